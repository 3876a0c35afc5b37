"""The saved model: a round trip, versions in time order, the errors that name what
exists, and a save that dies leaving nothing a load would take."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
import torch

from guanxi import __version__
from guanxi.errors import InputError
from guanxi.gnn.artefact import (
    ModelNotFound,
    data_snapshot,
    find_artefact,
    list_artefacts,
    load_artefact,
    models_dir,
    new_version,
    save_artefact,
    writable_models_dir,
)
from guanxi.graph.connection import Graph


def _save(folder: Path, **overrides):
    parts = {"model_state": {"gnn": OrderedDict(w=torch.arange(6.0).reshape(2, 3),
                                                b=torch.zeros(3, dtype=torch.float16)),
                             "epochs": 12, "names": ["ring", "pd"]},
             "settings": {"seed": 7, "hidden": 64, "lr": np.float32(0.01),
                          "data": Path("/data/demo")},
             "metrics": {"pr_auc": np.float64(0.81), "brier": float("nan")},
             "snapshot": {"merchants": 5, "labels": {"fraud": 2, "legit": 3},
                          "last_ingest_at": datetime(2026, 11, 29, 12, tzinfo=UTC)},
             "extra": {"calibration.json": b'{"a": 1}', "thresholds": {"ring": 0.42}}}
    return save_artefact(folder, **(parts | overrides))


def test_a_saved_model_loads_back_equal(tmp_path: Path) -> None:
    saved = _save(tmp_path)
    loaded = load_artefact(tmp_path, saved.version)
    assert loaded.version == saved.version and loaded.path == tmp_path / saved.version
    assert torch.equal(loaded.model_state["gnn"]["w"], torch.arange(6.0).reshape(2, 3))
    assert loaded.model_state["gnn"]["b"].dtype == torch.float16
    assert (loaded.model_state["epochs"], loaded.model_state["names"]) == (12, ["ring", "pd"])
    assert loaded.settings == {"seed": 7, "hidden": 64, "lr": pytest.approx(0.01),
                               "data": "/data/demo"}
    assert loaded.metrics == {"pr_auc": 0.81, "brier": None}  # NaN is not JSON
    assert loaded.snapshot["last_ingest_at"] == "2026-11-29T12:00:00+00:00"
    assert loaded.extra == {"calibration.json": b'{"a": 1}', "thresholds": {"ring": 0.42}}
    assert loaded.guanxi_version == __version__
    manifest = json.loads((loaded.path / "artefact.json").read_text(encoding="utf-8"))
    assert manifest["version"] == saved.version and manifest["format"] == 1
    assert set(manifest) >= {"created_at", "guanxi_version", "settings", "metrics", "snapshot"}
    assert sorted(p.name for p in loaded.path.rglob("*") if p.is_file()) == [
        "artefact.json", "calibration.json.bin", "model_state.pt", "thresholds.pkl"]


def test_a_lightgbm_booster_survives_the_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((200, 3))
    y = (x[:, 0] > 0.5).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "seed": 0},
                        lgb.Dataset(x, y), num_boost_round=5)
    saved = _save(tmp_path, extra={"ring_trees": booster})
    loaded = load_artefact(tmp_path, saved.version).extra["ring_trees"]
    np.testing.assert_array_equal(loaded.predict(x), booster.predict(x))


def test_versions_sort_by_time_and_the_newest_loads_by_default(tmp_path: Path) -> None:
    versions = []
    for _ in range(3):
        versions.append(_save(tmp_path).version)
        time.sleep(0.01)
    assert len(set(versions)) == 3
    assert [info.version for info in list_artefacts(tmp_path)] == versions
    assert load_artefact(tmp_path).version == versions[-1]
    v = new_version(datetime(2026, 11, 30, 4, 25, 1, tzinfo=UTC))
    assert v[:17] == "20261130T042501Z-" and int(v[17:], 16) >= 0


def test_an_unknown_version_names_the_saved_ones(tmp_path: Path) -> None:
    first, second = _save(tmp_path).version, _save(tmp_path).version
    with pytest.raises(ModelNotFound, match="no model version 'v9'") as info:
        load_artefact(tmp_path, "v9")
    assert info.value.fix == f"saved versions: {second}, {first}"


def test_finding_a_version_reads_no_binary_part(tmp_path: Path) -> None:
    saved = _save(tmp_path)
    for part in saved.path.rglob("*"):  # guanxi refresh checks the version this way
        if part.is_file() and part.name != "artefact.json":
            part.write_bytes(b"not a model")
    assert find_artefact(tmp_path, saved.version).path == saved.path
    assert find_artefact(tmp_path).version == saved.version
    with pytest.raises(ModelNotFound, match="no model version 'v9'"):
        find_artefact(tmp_path, "v9")
    with pytest.raises(ModelNotFound, match="cannot be read"):  # load reads the parts
        load_artefact(tmp_path, saved.version)


def test_no_saved_model_says_to_train(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound) as info:
        load_artefact(tmp_path / "models")
    assert info.value.one_line() == (f"no trained model in {tmp_path / 'models'}. "
                                     "run `guanxi train` first")
    assert list_artefacts(tmp_path / "models") == []


def test_the_models_folder_comes_from_the_environment(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUANXI_MODELS_DIR", str(tmp_path / "m"))
    assert models_dir() == tmp_path / "m"
    saved = _save(None)
    assert saved.path.parent == tmp_path / "m"
    monkeypatch.delenv("GUANXI_MODELS_DIR")
    monkeypatch.chdir(tmp_path)
    assert models_dir() == tmp_path / ".guanxi" / "models"


def test_a_models_folder_that_cannot_be_written_is_refused_before_training(
        tmp_path: Path) -> None:
    assert writable_models_dir(tmp_path / "new") == tmp_path / "new"  # made
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(InputError, match="models cannot be saved in .*file/models"):
        writable_models_dir(tmp_path / "file" / "models")
    assert list((tmp_path / "new").iterdir()) == []  # the probe left nothing


def test_leftovers_of_a_save_that_died_are_ignored(tmp_path: Path) -> None:
    kept = _save(tmp_path).version
    half = tmp_path / f".tmp-{new_version()}-123"
    (half / "extra").mkdir(parents=True)
    (half / "model_state.pt").write_bytes(b"half")
    assert [info.version for info in list_artefacts(tmp_path)] == [kept]
    assert load_artefact(tmp_path).version == kept


def test_a_newest_version_that_cannot_be_read_is_never_passed_over(tmp_path: Path) -> None:
    # Saves are renamed into place whole, so a broken artefact.json was damaged later
    # (a disk, a hand edit): scoring with the older model instead would go unnoticed.
    kept = _save(tmp_path).version
    broken = tmp_path / new_version(datetime(2100, 1, 1, tzinfo=UTC))
    broken.mkdir()
    (broken / "artefact.json").write_text("{")
    assert [info.version for info in list_artefacts(tmp_path)] == [kept]
    for version in (None, broken.name):
        with pytest.raises(ModelNotFound, match=f"model version {broken.name} in .* cannot be "
                           "read \\(artefact.json: JSONDecodeError") as info:
            find_artefact(tmp_path, version)
        assert info.value.fix.endswith(f"(the newest readable: {kept})")
        with pytest.raises(ModelNotFound, match="cannot be read"):
            load_artefact(tmp_path, version)
    assert load_artefact(tmp_path, kept).version == kept  # asked for by name, it loads
    (broken / "artefact.json").write_text("[]")  # JSON, but not a manifest
    with pytest.raises(ModelNotFound, match="AttributeError"):
        find_artefact(tmp_path)
    older = tmp_path / new_version(datetime(2000, 1, 1, tzinfo=UTC))
    broken.rename(older)  # a broken version older than the newest readable one is skipped
    assert find_artefact(tmp_path).version == kept


def test_a_save_killed_half_way_leaves_no_version(tmp_path: Path) -> None:
    # The child stops inside the save (pickling its last part) and is killed there.
    script = (
        "import sys, time, torch\n"
        "from guanxi.gnn.artefact import save_artefact\n"
        "class Slow:\n"
        "    def __reduce__(self):\n"
        "        print('saving', flush=True)\n"
        "        time.sleep(60)\n"
        "        return (dict, ())\n"
        "save_artefact(sys.argv[1], model_state={'w': torch.zeros(10)}, settings={},\n"
        "              metrics={}, snapshot={}, extra={'slow': Slow()})\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "saving"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert [p.name[:5] for p in tmp_path.iterdir()] == [".tmp-"]  # what the kill left
    assert list_artefacts(tmp_path) == []
    with pytest.raises(ModelNotFound, match="no trained model"):
        load_artefact(tmp_path)
    assert _save(tmp_path).version == load_artefact(tmp_path).version  # saving still works


def test_a_failed_save_removes_its_temporary_folder(tmp_path: Path) -> None:
    class Unpicklable:
        def __reduce__(self):
            raise TypeError("cannot pickle this")

    with pytest.raises(TypeError, match="cannot pickle"):
        _save(tmp_path, extra={"bad": Unpicklable()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("overrides", "message"), [
    ({"model_state": {"m": np.zeros(3)}}, r"model_state\['m'\] is a ndarray"),
    ({"extra": {"../x": b""}}, "extra part name"),
    ({"metrics": {"f": object()}}, "cannot save a object as JSON"),
])
def test_parts_that_would_not_load_back_are_refused(tmp_path: Path, overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        _save(tmp_path, **overrides)
    assert [p for p in tmp_path.iterdir()] == []


def test_the_data_snapshot_counts_what_the_graph_holds(graph: Graph) -> None:
    graph.write("UNWIND $rows AS r CREATE (:Merchant {id: r.id, label: r.label, "
                "defaulted: r.d})",
                rows=[{"id": "M1", "label": "fraud", "d": 1}, {"id": "M2", "label": "legit",
                                                                "d": 0},
                      {"id": "M3", "label": "legit", "d": None}])
    graph.write("CREATE (:IngestBatch {id: 'b1', at: datetime('2026-11-29T12:00:00Z')})")
    snapshot = data_snapshot(graph)
    assert snapshot["merchants"] == 3
    assert snapshot["labels"] == {"fraud": 1, "legit": 2}
    assert snapshot["defaults"] == {"0": 1, "1": 1}
    assert snapshot["last_ingest_at"] == "2026-11-29T12:00:00+00:00"
    assert snapshot["nodes"]["Merchant"] == 3
