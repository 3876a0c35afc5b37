"""``gnn/truth.py``: a hand-written truth folder, the files ``guanxi synth`` writes, and
one-line errors for what is missing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from guanxi.errors import GuanxiError, InputError
from guanxi.gnn.truth import read_truth

RINGS = """ring_id,typology,merchant_id
R0001,cash_out,M3
R0001,cash_out,M1
R0002,shell_merchants,M4
R0002,shell_merchants,M5
R0002,shell_merchants,M6
"""
MERCHANTS = """merchant_id,ring_id,defaulted,business_group_id
M1,R0001,1,G1
M2,,0,G1
M3,R0001,0,G2
M4,R0002,1,G3
M5,R0002,,G3
M6,R0002,0,G3
"""


def _write(folder: Path, rings: str = RINGS, merchants: str = MERCHANTS) -> Path:
    (folder / "truth").mkdir(parents=True)
    (folder / "truth" / "rings.csv").write_text(rings, encoding="utf-8")
    (folder / "truth" / "merchants.csv").write_text(merchants, encoding="utf-8")
    return folder


def test_reads_rings_typologies_and_outcomes(tmp_path: Path) -> None:
    truth = read_truth(_write(tmp_path))
    assert truth.rings == {"R0001": {"M1", "M3"}, "R0002": {"M4", "M5", "M6"}}
    assert truth.typology == {"R0001": "cash_out", "R0002": "shell_merchants"}
    assert truth.ring_of["M6"] == "R0002" and "M2" not in truth.ring_of
    assert truth.business_group["M3"] == "G2"
    rings, typologies = truth.ring_list()
    assert rings == [{"M1", "M3"}, {"M4", "M5", "M6"}]
    assert typologies == ["cash_out", "shell_merchants"]


def test_folder_or_its_truth_subfolder(tmp_path: Path) -> None:
    _write(tmp_path)
    a, b = read_truth(tmp_path), read_truth(tmp_path / "truth")
    assert a.rings == b.rings and a.defaulted.equals(b.defaulted)


def test_align_follows_the_given_order(tmp_path: Path) -> None:
    truth = read_truth(_write(tmp_path))
    is_ring, defaulted = truth.align(np.array(["M5", "M2", "M1", "M9"], dtype=object))
    assert is_ring.tolist() == [True, False, True, False]
    assert defaulted[1:3].tolist() == [0.0, 1.0]
    assert math.isnan(defaulted[0])  # empty in the file
    assert math.isnan(defaulted[3])  # unknown merchant
    assert truth.typology_of(["M2", "M4"]).tolist() == [None, "shell_merchants"]


def test_missing_file_names_it(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / "truth" / "merchants.csv").unlink()
    with pytest.raises(InputError) as caught:
        read_truth(tmp_path)
    line = caught.value.one_line()
    assert "merchants.csv" in line and "guanxi synth" in line and "\n" not in line
    with pytest.raises(GuanxiError, match="rings.csv"):
        read_truth(tmp_path / "nowhere")


def test_missing_column_names_it(tmp_path: Path) -> None:
    _write(tmp_path, merchants=MERCHANTS.replace("defaulted", "default"))
    with pytest.raises(InputError, match="merchants.csv has no column defaulted") as caught:
        read_truth(tmp_path)
    assert caught.value.fix


def test_files_that_disagree_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, merchants=MERCHANTS.replace("M2,,0", "M2,R0001,0"))
    with pytest.raises(InputError, match="disagree on the ring of merchant M2"):
        read_truth(tmp_path)


def test_bad_outcome_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, merchants=MERCHANTS.replace("M2,,0", "M2,,yes"))
    with pytest.raises(InputError, match="'yes'"):
        read_truth(tmp_path)


@pytest.mark.parametrize(("content", "why"), [
    (b"", "it is empty"),
    (b"ring_id,typology,merchant_id\nR1,\xff\xfe,M1\n", "it is not UTF-8 text"),
    (b'ring_id,typology,merchant_id\nR1,"cash_out,M1\n', "it is not CSV")])
def test_a_file_that_is_not_csv_text_is_one_line(tmp_path: Path, content: bytes,
                                                 why: str) -> None:
    _write(tmp_path)
    (tmp_path / "truth" / "rings.csv").write_bytes(content)
    with pytest.raises(InputError) as caught:
        read_truth(tmp_path)
    line = caught.value.one_line()
    assert line.startswith(f"truth file {tmp_path / 'truth' / 'rings.csv'} cannot be read: "
                           f"{why}") and "\n" not in line


def test_reads_what_the_generator_writes(tmp_path: Path) -> None:
    import json

    from guanxi.ingest.synth import SynthParams, generate

    generate(SynthParams(merchants=300, seed=5, rings_per_10k=200), tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    truth = read_truth(tmp_path)
    assert len(truth.rings) == sum(manifest["rings"].values()) > 0
    assert {t: sum(len(truth.rings[r]) for r in truth.rings if truth.typology[r] == t)
            for t in manifest["ring_members"]} == manifest["ring_members"]
    assert len(truth.defaulted) == 300 and truth.defaulted.notna().all()
    assert int(truth.defaulted.sum()) == manifest["credit"]["defaulted"]
