"""Where the graph lives: an external server named by ``NEO4J_URI``, or the local one.

The driver's usual variables win: with ``NEO4J_URI`` set (and ``NEO4J_USERNAME``,
``NEO4J_PASSWORD``, ``NEO4J_DATABASE``), every command talks to that server.
Otherwise guanxi uses the local server whose state lives in the data directory
(``--data-dir``, ``GUANXI_DATA_DIR``, default ``.guanxi/neo4j``).

These variables are checked here, so that a mistyped one is a line with the fix
before any driver sees it: ``NEO4J_URI`` must be a Bolt URI, and
``GUANXI_RETRY_SECONDS`` (how long a call keeps retrying a server it cannot
reach, default 30) a number of seconds.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from guanxi.errors import InputError, ServerError

__all__ = ["Settings", "default_data_dir", "external_uri", "public_uri", "resolve",
           "retry_seconds", "password_file", "state_file"]

DEFAULT_PORT = 7687
BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
"""The URI schemes of the Bolt protocol, the ones the driver speaks to a server."""


def retry_seconds() -> float:
    """``GUANXI_RETRY_SECONDS``: how long a call retries an unreachable server (default 30)."""
    raw = os.environ.get("GUANXI_RETRY_SECONDS", "30")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise InputError(f"GUANXI_RETRY_SECONDS {raw!r} is not a number of seconds",
                         "set it to e.g. 30, or 0 for no retries")
    return seconds


@dataclass(frozen=True)
class Settings:
    """How to reach one Neo4j database."""

    uri: str
    user: str
    password: str = field(repr=False)  # never in a repr, a log line or a traceback
    database: str
    external: bool
    data_dir: Path | None = None
    retry_seconds: float = field(default_factory=retry_seconds)

    def describe(self) -> str:
        where = "NEO4J_URI" if self.external else f"local server, data in {self.data_dir}"
        return f"{self.uri} (database {self.database}; {where})"

    def start_command(self) -> str:
        """The ``guanxi db start`` that brings this local server back as it was: its
        port and data folder when they are not the defaults."""
        command = "guanxi db start"
        port = urlsplit(self.uri).port
        if port is not None and port != DEFAULT_PORT:
            command += f" --port {port}"
        if self.data_dir is not None and self.data_dir != default_data_dir():
            command += f" --data-dir {self.data_dir}"
        return command


def default_data_dir() -> Path:
    return Path(os.environ.get("GUANXI_DATA_DIR", ".guanxi/neo4j")).expanduser().absolute()


def password_file(data_dir: Path) -> Path:
    return data_dir / "password"


def state_file(data_dir: Path) -> Path:
    return data_dir / "server.json"


def public_uri(uri: str) -> str:
    """``uri`` without a user name or password (``bolt://u:p@h:7687`` -> ``bolt://h:7687``):
    what a message may show.

    >>> public_uri("neo4j+s://neo4j:secret@db.example.com:7687")
    'neo4j+s://db.example.com:7687'
    """
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def external_uri() -> str | None:
    """``NEO4J_URI`` when set; ``ServerError`` unless it is a Bolt URI with a valid port
    and no user name or password in it (messages never show them)."""
    uri = os.environ.get("NEO4J_URI") or None
    if uri is None:
        return None
    fix = "use bolt://HOST:7687 or neo4j://HOST:7687 (neo4j+s:// for Aura)"
    try:
        shown = public_uri(uri)
    except ValueError:
        shown = "(unparsable)"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 -- parsed on access: raises for a port that is not a number
    except ValueError as exc:
        raise ServerError(f"NEO4J_URI {shown!r} is not a valid URI ({exc})", fix) from None
    if "@" in parts.netloc:
        raise ServerError(f"NEO4J_URI {shown!r} holds a user name or password",
                          "give the URI without them, and set NEO4J_USERNAME and "
                          "NEO4J_PASSWORD")
    if parts.scheme.lower() not in BOLT_SCHEMES or not parts.netloc:
        raise ServerError(f"NEO4J_URI {shown!r} is not a Bolt URI", fix)
    return uri


def resolve(data_dir: Path | None = None) -> Settings:
    """Settings for the server every command should use.

    Raises ``ServerError`` when ``NEO4J_URI`` is not a Bolt URI, or when it is not
    set and no local server has been started in ``data_dir``; ``InputError`` when
    ``GUANXI_RETRY_SECONDS`` is not a number of seconds.
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
