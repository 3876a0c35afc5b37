"""Named Cypher statements, one per ``.cypher`` file, loaded by name.

Each file holds one statement with ``$parameters`` only; it runs as-is in any
Neo4j client (Browser, cypher-shell). ``load("merchant_by_id")`` returns the
statement of ``merchant_by_id.cypher`` wrapped in a :class:`Query` so that a
failure can name its file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["Query", "load", "names"]

_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Query:
    """A Cypher statement and the name it is known by (its file stem, or ``ad-hoc``)."""

    name: str
    text: str

    def __str__(self) -> str:
        return self.text


def names() -> list[str]:
    """Names of every ``.cypher`` file, sorted."""
    return sorted(p.stem for p in _DIR.glob("*.cypher"))


@cache
def load(name: str) -> Query:
    """The statement in ``queries/<name>.cypher``; ``ValueError`` lists known names."""
    path = _DIR / f"{name}.cypher"
    if not path.is_file():
        raise ValueError(f"no query named {name!r}; known: {', '.join(names())}")
    text = "\n".join(
        line for line in path.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("//")
    ).strip().rstrip(";")
    return Query(name, text)
