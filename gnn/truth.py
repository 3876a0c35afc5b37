"""The ground truth a synthetic folder carries, read for evaluation only.

``guanxi synth`` writes ``truth/rings.csv`` (``ring_id``, ``typology``, ``merchant_id``;
one row per member) and ``truth/merchants.csv`` (``merchant_id``, ``ring_id``, empty for
honest merchants, ``defaulted`` for every merchant, ``business_group_id``); see
``docs/data.md``. Nothing here may feed training: models learn from the export's
``merchants.label`` and ``merchants.defaulted``; the truth only scores them.

>>> t = Truth.from_frames(
...     pd.DataFrame({"ring_id": ["R1", "R1"], "typology": ["cash_out"] * 2,
...                   "merchant_id": ["M1", "M2"]}),
...     pd.DataFrame({"merchant_id": ["M1", "M2", "M3"], "ring_id": ["R1", "R1", ""],
...                   "defaulted": ["1", "0", "0"], "business_group_id": ["G1", "G1", "G2"]}))
>>> is_ring, defaulted = t.align(["M3", "M1", "M9"])
>>> is_ring.tolist(), defaulted.tolist()
([False, True, False], [0.0, 1.0, nan])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from guanxi.errors import InputError

__all__ = ["RINGS_COLUMNS", "MERCHANTS_COLUMNS", "Truth", "read_truth"]

RINGS_COLUMNS: tuple[str, ...] = ("ring_id", "typology", "merchant_id")
"""Columns ``truth/rings.csv`` must have."""
MERCHANTS_COLUMNS: tuple[str, ...] = ("merchant_id", "ring_id", "defaulted", "business_group_id")
"""Columns ``truth/merchants.csv`` must have."""

_FIX = "use the truth/ folder that guanxi synth wrote next to the data (see docs/data.md)"


@dataclass(frozen=True)
class Truth:
    """Planted rings and credit outcomes, indexed by merchant id.

    ``rings`` maps ring id -> member ids (from ``rings.csv``), ``typology`` ring id ->
    typology, ``ring_of`` merchant id -> ring id (only ring members), ``defaulted``
    merchant id -> 0.0/1.0 (NaN where the file leaves it empty), ``business_group``
    merchant id -> group id.
    """

    rings: dict[str, set[str]]
    typology: dict[str, str]
    ring_of: dict[str, str]
    defaulted: pd.Series
    business_group: pd.Series

    @classmethod
    def from_frames(cls, rings: pd.DataFrame, merchants: pd.DataFrame,
                    source: str = "truth") -> Truth:
        """Build from the two tables (text columns, as read with ``dtype=str``).

        ``source`` names the folder in error messages.
        """
        for name, frame, columns in (("rings.csv", rings, RINGS_COLUMNS),
                                     ("merchants.csv", merchants, MERCHANTS_COLUMNS)):
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise InputError(f"{source}/{name} has no column {', '.join(missing)} "
                                 f"(expected {', '.join(columns)})", _FIX)
        members: dict[str, set[str]] = {}
        typology: dict[str, str] = {}
        ring_of: dict[str, str] = {}
        for ring, kind, merchant in rings[list(RINGS_COLUMNS)].itertuples(index=False):
            if typology.setdefault(ring, kind) != kind:
                raise InputError(f"{source}/rings.csv gives ring {ring} two typologies "
                                 f"({typology[ring]}, {kind})", _FIX)
            if ring_of.setdefault(merchant, ring) != ring:
                raise InputError(f"{source}/rings.csv puts merchant {merchant} in two rings "
                                 f"({ring_of[merchant]}, {ring})", _FIX)
            members.setdefault(ring, set()).add(merchant)
        # The two files must tell the same story: a mismatch means they come from
        # different runs, and every ring metric would be silently wrong.
        listed = merchants["ring_id"].fillna("").astype(str)
        stated = dict(zip(merchants["merchant_id"][listed != ""], listed[listed != ""],
                          strict=True))
        if stated != ring_of:
            wrong = sorted(set(stated.items()) ^ set(ring_of.items()))[0]
            raise InputError(f"{source}/merchants.csv and rings.csv disagree on the ring of "
                             f"merchant {wrong[0]}", _FIX)
        index = pd.Index(merchants["merchant_id"].astype(str), name="merchant_id")
        if index.has_duplicates:
            raise InputError(f"{source}/merchants.csv lists merchant "
                             f"{index[index.duplicated()][0]} twice", _FIX)
        text = merchants["defaulted"].fillna("").astype(str).str.strip()
        defaulted = pd.to_numeric(text.replace("", np.nan), errors="coerce")
        bad = defaulted.notna() & ~defaulted.isin([0, 1])
        bad |= defaulted.isna() & (text != "")
        if bad.any():
            raise InputError(f"{source}/merchants.csv has defaulted "
                             f"{text[bad].iloc[0]!r}; it must be 0, 1 or empty", _FIX)
        return cls(rings=members, typology=typology, ring_of=ring_of,
                   defaulted=pd.Series(defaulted.to_numpy(np.float64), index=index,
                                       name="defaulted"),
                   business_group=pd.Series(merchants["business_group_id"].to_numpy(object),
                                            index=index, name="business_group_id"))

    def align(self, ids: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Ring membership and default outcome of the merchants ``ids``, in their order.

        Returns ``(is_ring, defaulted)``: ``(N,)`` bool (False for an id the truth does
        not know) and ``(N,)`` float64 0.0/1.0, NaN where unknown.
        """
        ids = list(ids)
        is_ring = np.array([i in self.ring_of for i in ids], dtype=bool)
        defaulted = self.defaulted.reindex(pd.Index(ids, dtype=object)).to_numpy(np.float64)
        return is_ring, defaulted

    def typology_of(self, ids: Iterable[str]) -> np.ndarray:
        """``(N,)`` object array: the typology of each merchant's ring, None if honest.

        >>> Truth({"R1": {"M1"}}, {"R1": "shell_merchants"}, {"M1": "R1"},
        ...       pd.Series(dtype=float), pd.Series(dtype=object)).typology_of(["M2", "M1"])
        array([None, 'shell_merchants'], dtype=object)
        """
        return np.array([self.typology.get(self.ring_of.get(i, "")) for i in ids], dtype=object)

    def ring_list(self) -> tuple[list[set[str]], list[str]]:
        """The rings as a list of member sets and the parallel list of typologies, in ring
        id order: the arguments of ``metrics.recall_per_typology``."""
        order = sorted(self.rings)
        return [set(self.rings[r]) for r in order], [self.typology[r] for r in order]

    def held_out_rings(self, exclude: Iterable[str]) -> tuple[list[set[str]], list[str]]:
        """:meth:`ring_list` without the ``exclude`` ids (training labels), rings left
        empty dropped with their typologies: the rings ``guanxi evaluate`` judges.

        >>> Truth({"R1": {"M1", "M2"}, "R2": {"M3"}}, {"R1": "cash_out", "R2": "shell"},
        ...       {}, pd.Series(dtype=float), pd.Series(dtype=object)
        ...       ).held_out_rings(["M1", "M3"])
        ([{'M2'}], ['cash_out'])
        """
        gone = set(exclude)
        kept = [(ring - gone, t) for ring, t in zip(*self.ring_list(), strict=True)]
        kept = [(ring, t) for ring, t in kept if ring]
        return [ring for ring, _ in kept], [t for _, t in kept]


def read_truth(folder: str | Path) -> Truth:
    """Read ``rings.csv`` and ``merchants.csv`` from ``folder/truth`` or ``folder``.

    Parameters
    ----------
    folder : the synthetic data folder (``DIR``, holding ``truth/``) or ``DIR/truth``.

    Raises
    ------
    InputError
        A file or a column is missing, or the files contradict each other; the message
        names the file and the fix.
    """
    folder = Path(folder)
    where = folder / "truth" if (folder / "truth").is_dir() else folder
    frames = []
    for name in ("rings.csv", "merchants.csv"):
        path = where / name
        if not path.is_file():
            raise InputError(f"no truth file {path}",
                             f"pass the folder guanxi synth wrote (it holds truth/{name})")
        # Ids stay text; empty cells stay "" (an honest merchant's ring_id).
        try:
            frames.append(pd.read_csv(path, dtype=str, keep_default_na=False))
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            why = "it is empty" if isinstance(exc, pd.errors.EmptyDataError) else (
                "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError)
                else f"it is not CSV ({str(exc).splitlines()[0][:100]})")
            raise InputError(f"truth file {path} cannot be read: {why}", _FIX) from None
    return Truth.from_frames(*frames, source=str(where))
