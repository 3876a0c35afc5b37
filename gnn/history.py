"""How clusters changed from one scoring run to the next: who joined, who left, which
clusters merged or split, which are new or gone.

Cluster ids persist by membership overlap (``gnn/clusters.py``), so a cluster of the
new run that carries an old id *is* that cluster, changed or not. On top of the ids:

- **joined** / **left**: members the cluster gained / lost against its own previous
  membership (all of them joined when it is new);
- **merged_from**: other previous clusters that now lie mostly inside it (more than
  ``majority`` of their members moved in: a cluster halved between two others merged
  into neither);
- **split_into**: other new clusters whose members came mostly (more than
  ``majority``) from this one;
- **event**: ``new`` (an id not seen before), ``merged`` (it absorbed another),
  ``split`` (part of it became another cluster), ``changed`` (members came or went),
  ``same``; in that order of precedence.

Previous clusters absent from the new run are **gone** (:func:`gone`).

>>> before = {"C1": {"a", "b", "c"}, "C2": {"d", "e"}}
>>> after = {"C1": {"a", "b", "c", "d", "e"}}
>>> changes(before, after)["C1"].event, changes(before, after)["C1"].merged_from
('merged', ['C2'])
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

__all__ = ["Change", "changes", "gone"]


@dataclass
class Change:
    """One cluster's change against the previous run (lists sorted)."""

    event: str
    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    merged_from: list[str] = field(default_factory=list)
    split_into: list[str] = field(default_factory=list)


def changes(before: Mapping[str, Collection[str]], after: Mapping[str, Collection[str]],
            *, majority: float = 0.5) -> dict[str, Change]:
    """The :class:`Change` of every cluster in ``after`` (cluster id -> member ids)
    against ``before``; see the module docstring.

    >>> changes({"C1": {"a", "b", "c", "d"}}, {"C1": {"a", "b"}, "C7": {"c", "d", "e"}})["C1"]
    Change(event='split', joined=[], left=['c', 'd'], merged_from=[], split_into=['C7'])
    """
    where = {m: cid for cid, members in before.items() for m in members}
    new = {cid: set(members) for cid, members in after.items()}
    origin: dict[str, str | None] = {}  # new cluster -> the old cluster most members came from
    for cid, members in new.items():
        counts: dict[str, int] = {}
        for m in members:
            if m in where:
                counts[where[m]] = counts.get(where[m], 0) + 1
        best = max(sorted(counts), key=counts.__getitem__, default=None)
        origin[cid] = best if best is not None and counts[best] > majority * len(members) \
            else None
    out: dict[str, Change] = {}
    for cid, members in new.items():
        old = set(before.get(cid, ()))
        merged = sorted(o for o, part in before.items()
                        if o != cid and o not in new and part
                        and len(members & set(part)) > majority * len(part))
        split = sorted(other for other, source in origin.items()
                       if other != cid and source == cid and cid in before)
        joined, left = sorted(members - old), sorted(old - members)
        if cid not in before:
            event = "merged" if len(merged) > 1 else "new"
        elif merged:
            event = "merged"
        elif split:
            event = "split"
        elif joined or left:
            event = "changed"
        else:
            event = "same"
        out[cid] = Change(event, joined, left, merged, split)
    return out


def gone(before: Mapping[str, Collection[str]], after: Mapping[str, Collection[str]]
         ) -> list[str]:
    """Ids of ``before`` that ``after`` lacks, sorted.

    >>> gone({"C1": {"a"}, "C2": {"b"}}, {"C1": {"a", "b"}})
    ['C2']
    """
    return sorted(set(before) - set(after))
