"""The saved model: one folder per trained version, written whole or not at all.

Layout, under the models folder (``GUANXI_MODELS_DIR``, default ``.guanxi/models``)::

    20261130T042501Z-3fa9c2/        the version: UTC time of the save, then 6 random hex
        artefact.json               version, created_at, guanxi_version, settings,
                                    metrics, snapshot (what the data was), parts
        model_state.pt              torch.save of ``model_state`` (state dicts)
        extra/<name>.bin            an ``extra`` part given as bytes, as they are
        extra/<name>.pkl            any other ``extra`` part (a LightGBM booster), pickled

Versions sort by time (then at random within one second), so the last of
:func:`list_artefacts` is the newest. A save writes everything into a hidden
``.tmp-<version>`` folder beside the others and renames it to its version last: a
save that dies leaves at most such a hidden folder, which listing and loading ignore.

Parts other than ``model_state`` are pickles: load only artefacts you trust (your own
models folder). ``model_state`` is loaded with ``torch.load(weights_only=True)``, so it
may hold only tensors and plain values (numbers, strings, lists, dicts), which
:func:`save_artefact` checks.

>>> import tempfile, torch
>>> folder = tempfile.mkdtemp()
>>> saved = save_artefact(folder, model_state={"w": torch.ones(2)}, settings={"seed": 7},
...                       metrics={"auc": 0.9}, snapshot={"merchants": 5},
...                       extra={"note": b"hello"})
>>> loaded = load_artefact(folder)
>>> loaded.version == saved.version, loaded.extra["note"], loaded.metrics["auc"]
(True, b'hello', 0.9)
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from guanxi import __version__
from guanxi.errors import GuanxiError, InputError
from guanxi.graph.connection import Graph
from guanxi.graph.stats import graph_counts
from guanxi.queries import load

__all__ = ["Artefact", "ArtefactInfo", "ModelNotFound", "find_artefact", "models_dir",
           "new_version", "save_artefact", "load_artefact", "list_artefacts", "data_snapshot",
           "writable_models_dir"]

FORMAT = 1
"""Version of the folder layout, in ``artefact.json``."""

_VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_TMP_PREFIX = ".tmp-"


class ModelNotFound(GuanxiError):
    """No trained model, or not the version asked for."""


@dataclass(frozen=True)
class ArtefactInfo:
    """What ``artefact.json`` says of one saved version (no binary part is read)."""

    version: str
    path: Path
    created_at: datetime
    guanxi_version: str
    metrics: dict[str, Any]
    snapshot: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "path": str(self.path),
                "created_at": self.created_at.isoformat(),
                "guanxi_version": self.guanxi_version, "metrics": self.metrics,
                "snapshot": self.snapshot}


@dataclass
class Artefact:
    """One saved model: its description and its parts."""

    version: str
    path: Path
    created_at: datetime
    guanxi_version: str
    settings: dict[str, Any]
    metrics: dict[str, Any]
    snapshot: dict[str, Any]
    model_state: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def info(self) -> ArtefactInfo:
        return ArtefactInfo(self.version, self.path, self.created_at, self.guanxi_version,
                            self.metrics, self.snapshot)


def models_dir(folder: str | os.PathLike[str] | None = None) -> Path:
    """``folder``, else ``GUANXI_MODELS_DIR``, else ``.guanxi/models``, made absolute."""
    chosen = folder if folder is not None else os.environ.get("GUANXI_MODELS_DIR",
                                                              ".guanxi/models")
    return Path(chosen).expanduser().absolute()


def new_version(now: datetime | None = None) -> str:
    """A version string: UTC time to the second, then 6 random hex digits.

    >>> v = new_version(datetime(2026, 11, 30, 4, 25, 1, tzinfo=UTC))
    >>> v.startswith("20261130T042501Z-"), len(v)
    (True, 23)
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def writable_models_dir(folder: str | os.PathLike[str] | None = None) -> Path:
    """:func:`models_dir`, made and checked writable: a job that saves a model learns
    that it cannot before it trains, not after. Raises ``InputError`` naming why."""
    root = models_dir(folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=_TMP_PREFIX):
            pass
    except OSError as exc:
        raise InputError(f"models cannot be saved in {root} ({exc.strerror or exc})",
                         "point --models or GUANXI_MODELS_DIR at a writable folder") from None
    return root


def save_artefact(folder: str | os.PathLike[str] | None = None, *,
                  model_state: Mapping[str, Any], settings: Mapping[str, Any],
                  metrics: Mapping[str, Any], snapshot: Mapping[str, Any],
                  extra: Mapping[str, Any] | None = None) -> Artefact:
    """Save a trained model as a new version under ``folder`` (see :func:`models_dir`).

    ``model_state``: state dicts and plain values (``torch.save``); ``settings``,
    ``metrics``, ``snapshot``: JSON-able (numpy numbers, datetimes and paths are
    converted); ``extra``: named parts, bytes kept as they are, anything else pickled.
    The folder appears whole under its version, or not at all.

    Raises ``ValueError`` for a part name that is not a plain file name, or a
    ``model_state`` value ``torch.load(weights_only=True)`` would refuse.
    """
    root = models_dir(folder)
    extra = dict(extra or {})
    for name in extra:
        if not _PART.match(name):
            raise ValueError(f"extra part name {name!r} must be letters, digits, '_', '.', '-'")
    _check_state(model_state, "model_state")
    created = datetime.now(UTC)
    version = new_version(created)
    while (root / version).exists():
        version = new_version(created)
    parts: dict[str, Any] = {"model_state": "model_state.pt", "extra": {}}
    for name, value in extra.items():
        kind = "bytes" if isinstance(value, bytes | bytearray) else "pickle"
        parts["extra"][name] = {"file": f"extra/{name}.{'bin' if kind == 'bytes' else 'pkl'}",
                                "format": kind}
    manifest = {"format": FORMAT, "version": version, "created_at": created.isoformat(),
                "guanxi_version": __version__, "settings": _plain(settings),
                "metrics": _plain(metrics), "snapshot": _plain(snapshot), "parts": parts}
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{_TMP_PREFIX}{version}-{os.getpid()}"
    try:
        (tmp / "extra").mkdir(parents=True)
        with open(tmp / "model_state.pt", "wb") as fh:
            torch.save(dict(model_state), fh)
            _sync(fh)
        for name, value in extra.items():
            with open(tmp / parts["extra"][name]["file"], "wb") as fh:
                if parts["extra"][name]["format"] == "bytes":
                    fh.write(value)
                else:
                    pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
                _sync(fh)
        with open(tmp / "artefact.json", "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
            _sync(fh)
        os.rename(tmp, root / version)  # atomic: the version appears whole
        _sync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load_artefact(root, version)


def list_artefacts(folder: str | os.PathLike[str] | None = None) -> list[ArtefactInfo]:
    """The saved versions under ``folder``, oldest first. Hidden folders (a save under
    way or one that died) and folders without a readable ``artefact.json`` are left out."""
    return _scan(models_dir(folder))[0]


def find_artefact(folder: str | os.PathLike[str] | None = None,
                  version: str | None = None) -> ArtefactInfo:
    """What is known of the saved model ``version`` (default: the newest) under
    ``folder``, without reading its binary parts.

    Raises :class:`ModelNotFound` when none is saved, when ``version`` is not one of
    those saved (the message lists them), or when the version asked for, or the newest
    when none is, has an ``artefact.json`` that cannot be read: an older model is never
    used in its place without a word.
    """
    root = models_dir(folder)
    saved, broken = _scan(root)
    wanted = version if version is not None else max(
        [*broken, *(i.version for i in saved[-1:])], default=None)
    if wanted in broken:
        raise ModelNotFound(f"model version {wanted} in {root} cannot be read "
                            f"({broken[wanted]})",
                            "train again, move that folder away, or choose another version "
                            "with --model" + (f" (the newest readable: {saved[-1].version})"
                                              if saved else ""))
    if not saved:
        raise ModelNotFound(f"no trained model in {root}", "run `guanxi train` first")
    if version is None:
        return saved[-1]
    info = next((i for i in saved if i.version == version), None)
    if info is None:
        shown = [i.version for i in saved[-10:]]
        more = f" (and {len(saved) - 10} older)" if len(saved) > 10 else ""
        raise ModelNotFound(f"no model version {version!r} in {root}",
                            f"saved versions: {', '.join(reversed(shown))}{more}")
    return info


def load_artefact(folder: str | os.PathLike[str] | None = None,
                  version: str | None = None) -> Artefact:
    """The saved model ``version`` (default: the newest) under ``folder``.

    Raises :class:`ModelNotFound` as :func:`find_artefact` does.
    """
    info = find_artefact(folder, version)
    manifest = _manifest(info.path)
    parts = manifest["parts"]
    try:
        with open(info.path / parts["model_state"], "rb") as fh:
            model_state = torch.load(fh, map_location="cpu", weights_only=True)
        extra = {}
        for name, part in parts.get("extra", {}).items():
            data = (info.path / part["file"]).read_bytes()
            extra[name] = data if part["format"] == "bytes" else pickle.loads(data)
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError, KeyError) as exc:
        # A file cut short or changed since it was saved (a full disk, a copy
        # interrupted): the user's to fix, not a bug to trace.
        raise ModelNotFound(f"model version {info.version} in {info.path.parent} cannot be read "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})",
                            "train again, or choose another version with --model") from None
    return Artefact(info.version, info.path, info.created_at, info.guanxi_version,
                    manifest["settings"], manifest["metrics"], manifest["snapshot"],
                    model_state, extra)


def data_snapshot(graph: Graph) -> dict[str, Any]:
    """What the graph holds now, to keep beside a model trained on it: nodes per label,
    relationships per type, merchants, label counts (``fraud``/``legit``), credit
    outcome counts (``defaulted`` 0/1) and the time of the last ingest batch."""
    stats = graph_counts(graph)
    row = graph.read(load("scores_training_data"))[0]
    last = row["last_ingest_at"]
    return {"nodes": stats["nodes"], "relationships": stats["relationships"],
            "merchants": row["merchants"],
            "labels": {str(k): n for k, n in row["labels"]},
            "defaults": {str(k): n for k, n in row["defaults"]},
            "last_ingest_at": None if last is None else last.to_native().isoformat()}


def _scan(root: Path) -> tuple[list[ArtefactInfo], dict[str, str]]:
    """The readable versions under ``root``, oldest first, and ``{version: why}`` for
    version folders whose ``artefact.json`` cannot be read."""
    if not root.is_dir():
        return [], {}
    found, broken = [], {}
    for path in root.iterdir():
        if not path.is_dir() or not _VERSION.match(path.name):
            continue
        try:
            found.append(_info(path, _manifest(path)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            broken[path.name] = f"artefact.json: {type(exc).__name__}: {str(detail)[:120]}"
    return sorted(found, key=lambda info: (info.created_at, info.version)), broken


def _manifest(path: Path) -> dict[str, Any]:
    manifest = json.loads((path / "artefact.json").read_text(encoding="utf-8"))
    if manifest.get("version") != path.name:
        raise ValueError(f"{path}/artefact.json names version {manifest.get('version')!r}")
    return manifest


def _info(path: Path, manifest: dict[str, Any]) -> ArtefactInfo:
    return ArtefactInfo(manifest["version"], path,
                        datetime.fromisoformat(manifest["created_at"]),
                        manifest["guanxi_version"], manifest["metrics"], manifest["snapshot"])


_PLAIN = (str, int, float, bool, type(None))


def _check_state(value: Any, where: str) -> None:
    """Refuse what ``torch.load(weights_only=True)`` would not read back."""
    if isinstance(value, (torch.Tensor, torch.dtype, torch.Size, *_PLAIN)):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, _PLAIN):
                raise ValueError(f"{where} has a key of type {type(key).__name__}")
            _check_state(item, f"{where}[{key!r}]")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_state(item, f"{where}[{i}]")
        return
    raise ValueError(f"{where} is a {type(value).__name__}: model_state holds tensors and "
                     f"plain values only; pass other objects in extra")


def _plain(value: Any) -> Any:
    """JSON-ready: numpy values as Python ones, datetimes as ISO text, paths as text,
    NaN and infinities as null."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "iso_format"):  # neo4j.time values
        return value.iso_format()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, _PLAIN):
        return value
    raise ValueError(f"cannot save a {type(value).__name__} as JSON in artefact.json; "
                     f"pass it in extra")


def _sync(fh: Any) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _sync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
