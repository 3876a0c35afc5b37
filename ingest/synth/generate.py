"""``generate``: one synthetic run from parameters to a folder of files.

World -> consumers and their payments -> honest trade -> rings and their
transactions -> credit outcomes -> labels -> files, truth and manifest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from guanxi.errors import InputError
from guanxi.ingest.kinds import KINDS
from guanxi.ingest.synth import files
from guanxi.ingest.synth.calendar import DAY
from guanxi.ingest.synth.consumers import build_consumers, customer_payments, topups
from guanxi.ingest.synth.credit import simulate_credit
from guanxi.ingest.synth.events import Batch, Payments, Shipments, Supply
from guanxi.ingest.synth.labels import make_labels
from guanxi.ingest.synth.manifest import MANIFEST, entities, manifest, write_manifest
from guanxi.ingest.synth.params import TYPOLOGIES, SynthParams
from guanxi.ingest.synth.rings import plant_rings
from guanxi.ingest.synth.trade import build_trade
from guanxi.ingest.synth.typologies import ring_events
from guanxi.ingest.synth.world import World, build_world
from guanxi.ingest.synth.writer import make_ids

__all__ = ["Progress", "SynthSummary", "generate", "prepare_out"]

B = TypeVar("B", bound=Batch)
Progress = Callable[[str, int, int], None]
"""Called as ``progress(step, done, total)``; the CLI draws it as progress bars."""


@dataclass(frozen=True)
class SynthSummary:
    """What a run wrote: folder, manifest object and wall time in seconds."""

    out: Path
    manifest: dict[str, Any]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {"out": str(self.out), "seconds": round(self.seconds, 2),
                "rows": m["rows"], "rings": m["rings"], "ring_members": m["ring_members"],
                "entities": m["entities"], "labels": m["labels"], "credit": m["credit"],
                "parameters": m["parameters"]}


def _ours(out: Path) -> list[Path]:
    names = [f"{k}.{fmt}" for k in KINDS for fmt in ("csv", "parquet")] + [MANIFEST]
    return [out / n for n in names] + [out / "truth" / "rings.csv", out / "truth" / "merchants.csv"]


def prepare_out(out: Path, force: bool) -> None:
    """Make ``out`` ready: refuse a non-empty folder without ``force``, check it is writable.

    With ``force`` the files a previous run wrote (either format) are removed first,
    so a folder never holds two files of one kind; other files are left alone.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder", "Choose a folder path for --out")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise InputError(f"--out {out} is not empty",
                             "Add --force to overwrite it, or choose an empty folder")
        for path in _ours(out):
            path.unlink(missing_ok=True)
    try:
        (out / "truth").mkdir(parents=True, exist_ok=True)
        probe = out / ".guanxi-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"cannot write to --out {out}: {exc.strerror or exc}",
                         "Choose a folder you can write to") from None


def generate(params: SynthParams, out: Path | str, *, force: bool = False,
             progress: Progress | None = None) -> SynthSummary:
    """Generate the synthetic merchant network of ``params`` into folder ``out``.

    Parameters
    ----------
    params : SynthParams
        Size, seed, difficulty, label fraction, ring rate and format; validated here.
    out : path
        Folder to write; created if missing; must be empty unless ``force``.
    force : bool, default False
        Overwrite the files of an earlier run in ``out``.
    progress : callable, optional
        ``progress(step, done, total)`` after each step or chunk.

    Returns
    -------
    SynthSummary
        The folder, the manifest written to ``out/manifest.json`` and the wall time.

    Examples
    --------
    >>> from guanxi.ingest.synth import SynthParams, generate
    >>> summary = generate(SynthParams(merchants=2000, seed=7), "/tmp/guanxi-doc", force=True)
    >>> summary.manifest["rows"]["merchants"]
    2000
    """
    started = time.perf_counter()
    params = params.validate()
    out = Path(out)
    prepare_out(out, force)
    say = progress or (lambda step, done, total: None)
    fmt = params.fmt

    say("world", 0, 1)
    world = build_world(params)
    consumers = build_consumers(world, params)
    rings = plant_rings(world, params)
    say("world", 1, 1)
    parts = []
    for c, chunks, batch in customer_payments(world, consumers, params):
        parts.append(batch)
        say("customer payments", c + 1, chunks)
    trade = build_trade(world, params)
    ring_pay, ring_supply, ring_ship = ring_events(world, consumers, rings, params)
    # Ring members are drawn without regard to when they registered, and a shipment may
    # leave the day before its invoice: nothing may involve a merchant before it exists.
    payments = Payments.concat([*parts, topups(world, consumers, params), trade.payments,
                                _registered(ring_pay, world, "payer", "payee")])
    del parts
    supply = Supply.concat([trade.supply, _registered(ring_supply, world, "supplier", "buyer")])
    shipments = _registered(Shipments.concat([trade.shipments, ring_ship]), world, "shipper",
                            "receiver")
    credit = simulate_credit(world, trade, rings, params)
    labels = make_labels(world, rings, params)
    say("trade, rings, credit, labels", 1, 1)

    ids = make_ids(world, consumers, params.seed)
    rows = {}
    rows["merchants"], merchant_table = files.write_merchants(out, fmt, world, ids)
    rows["payments"] = files.write_payments(
        out, fmt, payments, ids, lambda done, total: say("write payments", done, total))
    rows["supply"] = files.write_supply(out, fmt, supply, ids)
    rows["shipments"] = files.write_shipments(out, fmt, shipments, ids, params.seed)
    rows["labels"] = files.write_labels(out, fmt, labels, ids)
    rows["defaults"] = files.write_defaults(out, fmt, credit, ids)
    truth_rows = files.write_truth(out, world, rings, credit, ids)
    say("write files", 1, 1)

    ents = entities(merchant_table, payments, supply, shipments, world.n, consumers.total)
    sizes = {t: [len(r.members) for r in rings if r.typology == t] for t in TYPOLOGIES}
    observed = credit.loan
    credit_info = {
        "defaulted": int(credit.defaulted.sum()),
        "default_rate": round(float(credit.defaulted.mean()), 6),
        "observed_loans": int(observed.sum()),
        "observed_defaults": int((credit.defaulted & observed).sum()),
        "ring_default_rate": round(float(credit.defaulted[world.ring >= 0].mean()), 6)
        if (world.ring >= 0).any() else 0.0,
    }
    label_info = {"fraud": int(labels.fraud.sum()), "legit": int((~labels.fraud).sum()),
                  "labelled_rings": len(labels.labelled_rings)}
    data = manifest(params, rows, truth_rows, sizes, ents, credit_info, label_info)
    write_manifest(out, data)
    say("manifest", 1, 1)
    del payments
    return SynthSummary(out=out, manifest=data, seconds=time.perf_counter() - started)



def _registered(batch: B, world: World, *parties: str) -> B:
    """Rows of ``batch`` dated on or after the registration of every merchant party."""
    ok = np.ones(len(batch), bool)
    day = batch.ts // DAY  # type: ignore[attr-defined]
    for name in parties:
        code = getattr(batch, name).astype(np.int64)
        merchant = code < world.n
        ok &= ~merchant | (day >= world.reg_day[np.where(merchant, code, 0)])
    return batch.take(ok)
