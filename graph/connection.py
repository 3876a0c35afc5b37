"""The one Neo4j driver of the process, and the few ways the rest of guanxi uses it.

Following the driver's own guidance: one driver for the life of the process;
``execute_query`` with ``$parameters`` and an explicit database; reads routed as
reads; writes as managed transactions (which the driver retries on transient
errors, so the work must be idempotent). Driver errors become guanxi errors that
name the failing ``.cypher`` file.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import neo4j
from neo4j import GraphDatabase, RoutingControl
from neo4j.exceptions import (
    AuthError,
    ConstraintError,
    CypherSyntaxError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
)

from guanxi.errors import GuanxiError, QueryError, ServerError
from guanxi.graph.settings import Settings, resolve
from guanxi.queries import Query

__all__ = ["Graph", "connect", "open_graph"]

log = logging.getLogger("guanxi.graph")
T = TypeVar("T")

_drivers: dict[tuple[str, str, str], neo4j.Driver] = {}


def connect(settings: Settings) -> neo4j.Driver:
    """The process-wide driver for ``settings`` (created once, closed at exit)."""
    key = (settings.uri, settings.user, settings.password)
    driver = _drivers.get(key)
    if driver is None:
        driver = GraphDatabase.driver(
            settings.uri,
            auth=(settings.user, settings.password),
            # Fail fast when the server is down; managed transactions still retry
            # transient errors (deadlocks, a restarting server) for GUANXI_RETRY_SECONDS.
            connection_acquisition_timeout=30.0,
            connection_timeout=5.0,
            max_transaction_retry_time=float(os.environ.get("GUANXI_RETRY_SECONDS", "30")),
        )
        _drivers[key] = driver
    return driver


@atexit.register
def _close_all() -> None:
    for driver in _drivers.values():
        driver.close()
    _drivers.clear()


def _as_query(query: Query | str) -> Query:
    return query if isinstance(query, Query) else Query("ad-hoc", query)


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
        return self._execute(_as_query(query), params, RoutingControl.READ)

    def write(self, query: Query | str, **params: Any) -> list[dict[str, Any]]:
        """Run one write statement in its own (retried) transaction."""
        return self._execute(_as_query(query), params, RoutingControl.WRITE)

    def autocommit(self, query: Query | str, **params: Any) -> list[dict[str, Any]]:
        """Run a statement in an auto-commit transaction: needed for
        ``CALL { ... } IN TRANSACTIONS`` (and never retried, so use it sparingly)."""
        query = _as_query(query)
        try:
            with self.driver.session(database=self.database) as session:
                return [record.data() for record in session.run(query.text, params)]
        except (Neo4jError, DriverError) as exc:
            raise translate(exc, query.name, self.settings) from None

    def transaction(self, work: Callable[[neo4j.ManagedTransaction], T], name: str) -> T:
        """Run ``work`` as a managed write transaction (retried as a whole on
        transient errors, so ``work`` must be idempotent and return plain values)."""
        try:
            with self.driver.session(database=self.database) as session:
                return session.execute_write(work)
        except (Neo4jError, DriverError) as exc:
            raise translate(exc, name, self.settings) from None

    def verify(self) -> None:
        """Raise ``ServerError`` unless the server answers with these credentials."""
        try:
            self.driver.verify_connectivity()
        except (Neo4jError, DriverError) as exc:
            raise translate(exc, "connect", self.settings) from None

    def _execute(self, query: Query, params: dict[str, Any], routing: RoutingControl):
        try:
            records, _, _ = self.driver.execute_query(
                query.text, parameters_=params, database_=self.database, routing_=routing
            )
        except (Neo4jError, DriverError) as exc:
            raise translate(exc, query.name, self.settings) from None
        return [record.data() for record in records]


def open_graph(settings: Settings | None = None) -> Graph:
    """The graph every command uses: ``NEO4J_URI`` if set, else the local server."""
    settings = settings or resolve()
    return Graph(connect(settings), settings)


def translate(exc: Exception, name: str, settings: Settings) -> GuanxiError:
    """Turn a driver error into one actionable line; log which query failed."""
    log.warning("query %s failed: %s", name, exc)
    if isinstance(exc, AuthError):
        return ServerError(
            f"Neo4j at {settings.uri} refused user {settings.user!r}",
            "check NEO4J_USERNAME/NEO4J_PASSWORD, or the local server's password file"
            if settings.external
            else f"the password in {settings.data_dir}/password does not match; "
            "restart the server with `guanxi db stop && guanxi db start`",
        )
    if isinstance(exc, (ServiceUnavailable, SessionExpired)) or (
        isinstance(exc, DriverError) and not isinstance(exc, Neo4jError)
    ):
        fix = (
            "check that the server named by NEO4J_URI is up and reachable"
            if settings.external
            else "start it with `guanxi db start` (or set NEO4J_URI to a running server)"
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
    return QueryError(f"query {name} failed ({code}): {message}")
