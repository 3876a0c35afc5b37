"""Where the graph lives: an external server named by ``NEO4J_URI``, or the local one.

The driver's usual variables win: with ``NEO4J_URI`` set (and ``NEO4J_USERNAME``,
``NEO4J_PASSWORD``, ``NEO4J_DATABASE``), every command talks to that server.
Otherwise guanxi uses the local server whose state lives in the data directory
(``--data-dir``, ``GUANXI_DATA_DIR``, default ``.guanxi/neo4j``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from guanxi.errors import ServerError

__all__ = ["Settings", "default_data_dir", "resolve", "password_file", "state_file"]

DEFAULT_PORT = 7687


@dataclass(frozen=True)
class Settings:
    """How to reach one Neo4j database."""

    uri: str
    user: str
    password: str
    database: str
    external: bool
    data_dir: Path | None = None

    def describe(self) -> str:
        where = "NEO4J_URI" if self.external else f"local server, data in {self.data_dir}"
        return f"{self.uri} (database {self.database}; {where})"


def default_data_dir() -> Path:
    return Path(os.environ.get("GUANXI_DATA_DIR", ".guanxi/neo4j")).expanduser().absolute()


def password_file(data_dir: Path) -> Path:
    return data_dir / "password"


def state_file(data_dir: Path) -> Path:
    return data_dir / "server.json"


def external_uri() -> str | None:
    return os.environ.get("NEO4J_URI") or None


def resolve(data_dir: Path | None = None) -> Settings:
    """Settings for the server every command should use.

    Raises ``ServerError`` when neither ``NEO4J_URI`` is set nor a local server
    has been started in ``data_dir``.
    """
    uri = external_uri()
    if uri:
        return Settings(
            uri=uri,
            user=os.environ.get("NEO4J_USERNAME", "neo4j"),
            password=os.environ.get("NEO4J_PASSWORD", ""),
            database=os.environ.get("NEO4J_DATABASE", "neo4j"),
            external=True,
        )
    data_dir = (data_dir or default_data_dir()).absolute()
    pw_path, st_path = password_file(data_dir), state_file(data_dir)
    if not pw_path.exists() or not st_path.exists():
        raise ServerError(
            f"no local Neo4j in {data_dir} and NEO4J_URI is not set",
            "start one with `guanxi db start` (or point NEO4J_URI at a server)",
        )
    try:
        password = pw_path.read_text(encoding="utf-8").strip()
        port = int(json.loads(st_path.read_text(encoding="utf-8"))["port"])
    except (OSError, ValueError, KeyError) as exc:
        raise ServerError(
            f"cannot read the local server's settings in {data_dir}: {exc}",
            "check the folder's permissions, or stop and start it again with `guanxi db start`",
        ) from None
    return Settings(
        uri=f"bolt://127.0.0.1:{port}",
        user="neo4j",
        password=password,
        database="neo4j",
        external=False,
        data_dir=data_dir,
    )
