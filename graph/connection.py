"""The one Neo4j driver of the process, and the few ways the rest of guanxi uses it.

Following the driver's own guidance: one driver for the life of the process;
``execute_query`` with ``$parameters`` and an explicit database; reads routed as
reads; writes as managed transactions (retried on transient errors, so the work
must be idempotent). Driver errors become guanxi errors that name the failing
``.cypher`` file.

Retries are guanxi's, not the driver's (whose backoff can sleep past its own limit,
and which starts a full retry window for every call): a call retries a retryable
error with backoff (1, 2, 4, ... s) while the next attempt would still start within
``GUANXI_RETRY_SECONDS`` (default 30) of the first failure. For an unreachable
server that first failure is shared by every call on the driver, so the calls that
follow one which gave up (a heartbeat, the release of a lock) try once and fail at
once: a command fails within ``GUANXI_RETRY_SECONDS``, plus one connection attempt
(at most ``connection_timeout``, 5 s), of the server going away.

Every exchange with the server is :func:`~guanxi.interrupts.uninterrupted`: a
Ctrl-C or SIGTERM that arrives meanwhile stops the command once the call returns,
never halfway through it (which leaves the driver waiting forever).
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import neo4j
import pandas as pd
from neo4j import GraphDatabase, RoutingControl

# The driver's stand-in for a value it received but cannot build (a date in year 0);
# reading it raises BrokenRecordError. Not exported at the top level of the package.
from neo4j._codec.hydration import BrokenHydrationObject
from neo4j.exceptions import (
    AuthError,
    BrokenRecordError,
    ConfigurationError,
    ConstraintError,
    CypherSyntaxError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
)
from neo4j.graph import Node

from guanxi.errors import GuanxiError, QueryError, ServerError
from guanxi.graph.server import is_running
from guanxi.graph.settings import Settings, public_uri, resolve
from guanxi.interrupts import uninterrupted
from guanxi.queries import Query

__all__ = ["Graph", "connect", "open_graph"]

log = logging.getLogger("guanxi.graph")
T = TypeVar("T")

_Key = tuple[str, str, str]
_drivers: dict[_Key, neo4j.Driver] = {}


def _key(settings: Settings) -> _Key:
    return settings.uri, settings.user, settings.password


def connect(settings: Settings) -> neo4j.Driver:
    """The process-wide driver for ``settings`` (created once, closed at exit).

    Raises ``ServerError`` when the driver rejects the URI (``bolt://`` with a
    routing context or a user name in it, a malformed host).
    """
    driver = _drivers.get(_key(settings))
    if driver is None:
        try:
            driver = GraphDatabase.driver(
                settings.uri,
                auth=(settings.user, settings.password),
                connection_acquisition_timeout=30.0,
                connection_timeout=5.0,
                # No retries in the driver: Graph retries (see the module's docstring).
                max_transaction_retry_time=0.0,
                # A graph without some relation type (payments only) is normal, and
                # the server's "type does not exist" warnings would reach the user's
                # terminal through the driver's logger.
                notifications_min_severity="OFF",
            )
        except (ConfigurationError, ValueError) as exc:
            # The driver's text quotes the URI as given: shown without any user or password.
            shown = public_uri(settings.uri)
            reason = str(exc).strip().rstrip(".").replace(settings.uri, shown)
            raise ServerError(f"Neo4j URI {shown!r} is not usable: {reason}",
                              "use bolt://HOST:7687 or neo4j://HOST:7687 "
                              "(neo4j+s:// for Aura)") from None
        _drivers[_key(settings)] = driver
    return driver


@atexit.register
def _close_all() -> None:
    for driver in _drivers.values():
        driver.close()
    _drivers.clear()


def _as_query(query: Query | str) -> Query:
    return query if isinstance(query, Query) else Query("ad-hoc", query)


class _Outage:
    """When the calls through one driver began to find its server unreachable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None
        self._last = 0.0

    def failed(self, now: float, window: float) -> float:
        """Record a failure at ``now``; returns the first failure of this outage."""
        with self._lock:
            # After a quiet spell longer than the window (nobody called, so nobody
            # saw the server come back) a failure starts a new outage.
            if self._since is None or now - self._last > window:
                self._since = now
            self._last = now
            return self._since

    def ended(self) -> None:
        with self._lock:
            self._since = None


_outages: dict[_Key, _Outage] = {}


@dataclass(frozen=True)
class Graph:
    """A driver plus the database to use; what library functions receive."""

    driver: neo4j.Driver
    settings: Settings

    @property
    def database(self) -> str:
        return self.settings.database

    def read(self, query: Query | str, **params: Any) -> list[dict[str, Any]]:
        """Run a read statement; rows as plain dicts."""
        query = _as_query(query)
        return _data(self._execute(query, params, RoutingControl.READ), query.name, self.settings)

    def write(self, query: Query | str, **params: Any) -> list[dict[str, Any]]:
        """Run one write statement in its own (retried) transaction."""
        query = _as_query(query)
        return _data(self._execute(query, params, RoutingControl.WRITE), query.name,
                     self.settings)

    def printable(self, query: Query | str, **params: Any) -> list[dict[str, Any]]:
        """Run one statement as :meth:`write` does, for showing its rows to a person.

        A value the driver cannot build in Python (a date or datetime before year 1
        or after 9999, a time zone this machine does not know) comes back, wherever
        it is in the row, as the text Neo4j itself writes for it (``'-2024-08-01'``),
        asked of the server in one more query. ``read`` and ``write`` raise
        ``QueryError`` for such a value instead.
        """
        query = _as_query(query)
        records = self._execute(query, params, RoutingControl.WRITE)
        # tuple.__iter__: Record's own iteration raises on such a value.
        values = [list(tuple.__iter__(record)) for record in records]
        broken: list[BrokenHydrationObject] = []

        def collect(value: BrokenHydrationObject) -> BrokenHydrationObject:
            broken.append(value)
            return value

        _mend(values, collect)
        if not broken:
            return _data(records, query.name, self.settings)
        texts = {row["i"]: row["text"] for row in self.read(
            _AS_TEXT, values=[{"i": i, **_raw(value)} for i, value in enumerate(broken)])}
        by_id = {id(value): texts.get(i) or str(value.raw_data)  # an unknown structure
                 for i, value in enumerate(broken)}
        mended = _mend(values, lambda value: by_id[id(value)])
        return _data([neo4j.Record(zip(record.keys(), row, strict=True))
                      for record, row in zip(records, mended, strict=True)],
                     query.name, self.settings)

    def frame(self, query: Query | str, **params: Any) -> pd.DataFrame:
        """Run a read statement; its rows as a DataFrame, one column per returned name.

        The driver's ``Result.to_df`` builds the frame, with no dict per row; for
        millions of rows use :meth:`frames`.
        """
        query = _as_query(query)

        def attempt() -> pd.DataFrame:
            return self.driver.execute_query(
                query.text, parameters_=params, database_=self.database,
                routing_=RoutingControl.READ, result_transformer_=neo4j.Result.to_df)

        return self._retried(attempt, query.name)

    def frames(self, query: Query | str, *, key: str, after: Any = "", chunk: int = 100_000,
               **params: Any) -> Iterator[pd.DataFrame]:
        """Stream a large read as DataFrames of at most ``chunk`` rows, in ``key`` order.

        ``query`` pages by ``key``: it takes ``$after`` (the last key seen; ``after``
        at first) and ``$limit``, and returns **one row of equal-length lists**, one per
        column, so each chunk crosses the wire as a few lists rather than a record per
        row (about 9x faster)::

            MATCH (m:Merchant) WHERE m.id > $after
            WITH m ORDER BY m.id LIMIT $limit
            RETURN collect(m.id) AS id, collect(m.city) AS city

        Memory holds one chunk. Paging by an indexed ``key`` (not SKIP) keeps every
        chunk as cheap as the first.
        """
        query = _as_query(query)
        while True:
            part = pd.DataFrame(self.columns(query, **params, after=after, limit=chunk))
            if key not in part:
                raise QueryError(f"query {query.name} returned no list {key!r} to page by",
                                 f"return collect(...) AS {key} among its columns")
            if len(part):
                yield part
            if len(part) < chunk:
                return
            after = part[key].iat[-1]

    def columns(self, query: Query | str, **params: Any) -> dict[str, Any]:
        """Run a read statement that returns **one row of lists** (``collect(...)``, one
        per column, as :meth:`frames` pages do) and give that row's values as they are;
        ``{}`` when it returns no row. ``Record.data()`` (:meth:`read`) would walk every
        element of every list in Python: three quarters of an export's time."""
        query = _as_query(query)
        records = self._execute(query, params, RoutingControl.READ)
        try:
            return dict(zip(records[0].keys(), records[0].values(), strict=True)) \
                if records else {}
        except BrokenRecordError as exc:
            raise translate(exc, query.name, self.settings) from None

    def autocommit(self, query: Query | str, **params: Any) -> list[dict[str, Any]]:
        """Run a statement in an auto-commit transaction: needed for
        ``CALL { ... } IN TRANSACTIONS`` (and never retried, so use it sparingly)."""
        query = _as_query(query)
        try:
            with uninterrupted(), self.driver.session(database=self.database) as session:
                return [record.data() for record in session.run(query.text, params)]
        except (Neo4jError, DriverError) as exc:
            raise translate(exc, query.name, self.settings) from None

    def transaction(self, work: Callable[[neo4j.ManagedTransaction], T], name: str,
                    timeout: float | None = None) -> T:
        """Run ``work`` as a managed write transaction (retried as a whole on
        transient errors, so ``work`` must be idempotent and return plain values).

        ``timeout`` (seconds) is enforced by the server, which ends the transaction and
        releases its locks when it runs longer, even when the client is frozen or gone;
        such a transaction fails with ``QueryError`` code
        ``Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration``.
        """
        unit = neo4j.unit_of_work(timeout=timeout)(work) if timeout else work

        def attempt() -> T:
            with self.driver.session(database=self.database) as session:
                return session.execute_write(unit)

        return self._retried(attempt, name)

    def verify(self) -> None:
        """Raise ``ServerError`` unless the server answers with these credentials."""
        try:
            with uninterrupted():
                self.driver.verify_connectivity()
        except (Neo4jError, DriverError) as exc:
            raise translate(exc, "connect", self.settings) from None

    def _execute(self, query: Query, params: dict[str, Any],
                 routing: RoutingControl) -> list[neo4j.Record]:
        def attempt() -> list[neo4j.Record]:
            return self.driver.execute_query(
                query.text, parameters_=params, database_=self.database, routing_=routing
            ).records

        return self._retried(attempt, query.name)

    def _retried(self, attempt: Callable[[], T], name: str) -> T:
        """``attempt()``, again after a retryable error while the window allows."""
        window = self.settings.retry_seconds
        outage = _outages.setdefault(_key(self.settings), _Outage())
        first: float | None = None
        delay = 1.0
        while True:
            try:
                with uninterrupted():  # Ctrl-C mid-exchange would hang the driver
                    result = attempt()
            except (Neo4jError, DriverError) as exc:
                now = time.monotonic()
                if not exc.is_retryable():
                    raise translate(exc, name, self.settings) from None
                if isinstance(exc, DriverError):  # the server is unreachable
                    if self._local_and_stopped():
                        raise translate(exc, name, self.settings) from None
                    first = outage.failed(now, window)
                elif first is None:  # a deadlock, a leader switch: this call's own window
                    first = now
                left = first + window - now
                if left <= 0:
                    raise translate(exc, name, self.settings) from None
                # Jitter keeps concurrent writers from retrying in lockstep; the last
                # wait is cut short so that the last attempt starts within the window.
                pause = min(delay * random.uniform(0.8, 1.2), left)
                log.info("query %s failed, trying again in %.1f s: %s", name, pause, exc)
                time.sleep(pause)
                delay *= 2
            else:
                outage.ended()
                return result

    def _local_and_stopped(self) -> bool:
        """Whether this is the local server of a data dir and no process of it runs: no
        retry can reach it then (a team server's restart is worth waiting for)."""
        if self.settings.external or self.settings.data_dir is None:
            return False
        return not is_running(self.settings.data_dir)


def open_graph(settings: Settings | None = None) -> Graph:
    """The graph every command uses: ``NEO4J_URI`` if set, else the local server."""
    settings = settings or resolve()
    return Graph(connect(settings), settings)


def _data(records: list[neo4j.Record], name: str, settings: Settings) -> list[dict[str, Any]]:
    """Rows as plain dicts (``Record.data``); ``QueryError`` for a value Python cannot hold."""
    try:
        return [record.data() for record in records]
    except BrokenRecordError as exc:
        raise translate(exc, name, settings) from None


def _mend(value: Any, fix: Callable[[BrokenHydrationObject], Any]) -> Any:
    """``value`` with ``fix(part)`` in place of each part the driver could not build.

    Lists and maps are copied, and a node becomes the map of its properties (what
    ``Record.data`` makes of a node anyway).
    """
    if isinstance(value, BrokenHydrationObject):
        return fix(value)
    if isinstance(value, list):
        return [_mend(v, fix) for v in value]
    if isinstance(value, (dict, Node)):
        return {k: _mend(v, fix) for k, v in value.items()}
    return value


def _raw(value: BrokenHydrationObject) -> dict[str, Any]:
    """The Bolt structure behind ``value`` (tag and fields), as ``_AS_TEXT`` reads it."""
    tag, fields = value.raw_data.tag.decode(), list(value.raw_data.fields)
    offset = None
    if tag == "I":  # a datetime with a UTC offset in seconds, which Cypher writes +HH:MM:SS
        sign, seconds = ("-" if fields[2] < 0 else "+"), abs(fields[2])
        offset = f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return {"tag": tag, "fields": fields, "offset": offset}


# Bolt 5 temporal structures (tag: fields), rebuilt by the server and written by its
# toString: D date (days since 1970-01-01), d local datetime (seconds, nanoseconds
# since 1970-01-01T00:00), I datetime (UTC seconds, nanoseconds, offset seconds),
# i datetime in a named zone (UTC seconds, nanoseconds, zone id). Others give null.
_AS_TEXT = Query("value_as_text", """
UNWIND $values AS v
RETURN v.i AS i, CASE v.tag
  WHEN 'D' THEN toString(date('1970-01-01') + duration({days: v.fields[0]}))
  WHEN 'd' THEN toString(localdatetime('1970-01-01T00:00')
                         + duration({seconds: v.fields[0], nanoseconds: v.fields[1]}))
  WHEN 'I' THEN toString(datetime({
    datetime: datetime({epochSeconds: v.fields[0], nanosecond: v.fields[1]}),
    timezone: v.offset}))
  WHEN 'i' THEN toString(datetime({
    datetime: datetime({epochSeconds: v.fields[0], nanosecond: v.fields[1]}),
    timezone: v.fields[2]}))
END AS text
""")


def translate(exc: Exception, name: str, settings: Settings) -> GuanxiError:
    """Turn a driver error into one actionable line; log which query failed (at debug
    level when the server could not be reached: the line names the server, and which
    query found it gone says nothing more)."""
    unreachable = isinstance(exc, (ServiceUnavailable, SessionExpired)) or (
        isinstance(exc, DriverError) and not isinstance(exc, Neo4jError))
    log.log(logging.DEBUG if unreachable else logging.WARNING, "query %s failed: %s",
            name, exc)
    if isinstance(exc, BrokenRecordError):
        return QueryError(
            f"query {name} returned a value Python cannot hold ({exc}: {exc.__cause__})",
            "return it as text, e.g. toString(value), or print it with `guanxi db query`",
        )
    if isinstance(exc, AuthError):
        return ServerError(
            f"Neo4j at {settings.uri} refused user {settings.user!r}",
            "check NEO4J_USERNAME/NEO4J_PASSWORD, or the local server's password file"
            if settings.external
            else f"the password in {settings.data_dir}/password does not match; "
            "restart the server with `guanxi db stop && guanxi db start`",
        )
    if unreachable:
        fix = (
            "check that the server named by NEO4J_URI is up and reachable"
            if settings.external
            else f"start it with `{settings.start_command()}` (or set NEO4J_URI to a "
            "running server)"
        )
        return ServerError(f"cannot reach Neo4j at {settings.uri}", fix)
    message = (getattr(exc, "message", None) or str(exc)).strip().splitlines()[0]
    if isinstance(exc, ConstraintError):
        return QueryError(
            f"query {name} broke a constraint: {message}",
            "ids must be unique per label; MERGE on the id instead of CREATE",
        )
    if isinstance(exc, CypherSyntaxError):
        return QueryError(f"query {name} is not valid Cypher: {message}", "fix the statement")
    code = getattr(exc, "code", None) or type(exc).__name__
    if code == "Neo.ClientError.Database.DatabaseNotFound":
        return ServerError(f"Neo4j at {settings.uri} has no database {settings.database!r}",
                           "set NEO4J_DATABASE to one that exists (SHOW DATABASES lists them)"
                           if settings.external else "unset NEO4J_DATABASE")
    return QueryError(f"query {name} failed ({code}): {message}", code=code)
