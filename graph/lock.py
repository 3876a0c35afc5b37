"""Named locks in Neo4j: one run of a job at a time, across processes and hosts.

``guanxi refresh`` and ``guanxi score`` hold ``(:JobLock {id: "scores"})`` for their whole
run; the ingest ledger claims files the same way (``graph/ledger.py``) with the pieces
kept here:

- **A holder is a process** (:class:`Owner`): its pid, host and start time, written on
  the lock's node under the node's write lock, so two processes cannot both take it.
- **A live holder keeps it.** Another process gets :class:`LockHeld`, whose message says
  who holds it and since when. A holder that is gone (:func:`holder_gone`: same host and
  its pid dead, or no heartbeat for ``stale_seconds`` from any host) is taken over.
- **A holder says it is alive** (:class:`Heartbeat`, a daemon thread). When its lock was
  taken over (it was stopped or cut off too long) ``lost`` turns True and the job stops
  with :class:`LockLost` at its next step. Only the holder's release removes the lock.
- **No frozen process keeps the record locked**: every lock transaction has a
  server-side timeout.

Example, in a batch job::

    with lock.held(graph, "scores", what="refresh") as lease:
        if lease.took_over:
            log.warning("took over the lock left by %s", lease.took_over.describe())
        for step in steps:
            lease.check()  # LockLost once another run has taken the lock over
            step()
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import neo4j
import psutil

from guanxi.errors import GuanxiError, QueryError, ServerError
from guanxi.graph.connection import Graph
from guanxi.queries import load

T = TypeVar("T")

__all__ = ["Owner", "Holder", "Lease", "LockHeld", "LockLost", "Heartbeat", "acquire", "claim",
           "release", "held", "holder_gone", "brief_write", "STALE_SECONDS",
           "HEARTBEAT_SECONDS", "CLAIM_TIMEOUT", "BEAT_TIMEOUT", "TIMED_OUT"]

STALE_SECONDS = float(os.environ.get("GUANXI_LOCK_STALE_SECONDS", "60"))
"""A lock or claim whose heartbeat is older than this is taken over, from any host."""

HEARTBEAT_SECONDS = 10.0

CLAIM_TIMEOUT = 30.0
"""Seconds an acquire may wait for the lock's record before the lock counts as held."""

BEAT_TIMEOUT = 10.0
"""Server-side limit on a heartbeat or a release: a process frozen inside one (SIGSTOP,
a hung VM) must not keep the record locked for ever."""

TIMED_OUT = ("Neo.ClientError.Transaction.LockClientStopped",
             "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration",
             "Neo.ClientError.Transaction.TransactionTimedOut")
"""Codes of a transaction the server ended at its timeout (or while it waited for a lock)."""


class LockHeld(GuanxiError):
    """Another live process holds the lock (a job's, or an ingest's claim on a file)."""

    exit_code = 75  # EX_TEMPFAIL: nothing is wrong with the input; try again later


class LockLost(GuanxiError):
    """This process's lock or claim was taken over (it was stopped or cut off too long)."""

    exit_code = 75


@dataclass(frozen=True)
class Owner:
    """The process that holds a lock: pid, host and the process's start time.

    The start time tells a live holder from a recycled pid.
    """

    pid: int
    host: str
    started: float

    @classmethod
    def me(cls) -> Owner:
        return cls(os.getpid(), socket.gethostname(), psutil.Process().create_time())

    @property
    def id(self) -> str:
        return f"{self.pid}@{self.host}/{self.started:.2f}"

    def params(self) -> dict[str, Any]:
        return {"id": self.id, "pid": self.pid, "host": self.host}


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its record says: for messages and logs.

    ``owner`` is the holder's :attr:`Owner.id`, ``since`` when it took the lock (ISO,
    seconds), ``idle_seconds`` the time since its last heartbeat, ``job`` what it runs
    under the lock (None on an ingest ledger's record).
    """

    owner: str
    pid: int | None
    host: str | None
    since: str
    idle_seconds: int | None
    job: str | None = None

    @classmethod
    def of(cls, record: dict[str, Any], idle_seconds: int | None) -> Holder:
        """The holder named by a lock's or a ledger file's record (``owner_*`` properties)."""
        return cls(str(record.get("owner")), record.get("owner_pid"), record.get("owner_host"),
                   _when(record.get("owner_since")), idle_seconds, record.get("owner_job"))

    def describe(self) -> str:
        """One line for a message.

        >>> Holder("4242@host-a/1.00", 4242, "host-a", "2026-11-30T07:40:12", 3).describe()
        'pid 4242 on host-a since 2026-11-30T07:40:12 (last heard 3 s ago)'
        """
        return (f"pid {self.pid} on {self.host} since {self.since} "
                f"(last heard {self.idle_seconds} s ago)")


def holder_gone(record: dict[str, Any], idle: int | None, stale_seconds: float) -> bool:
    """Whether a record's holder is dead (same host) or silent for too long (any host).

    ``record`` has the ``owner``, ``owner_pid`` and ``owner_host`` properties; ``idle`` is
    the seconds since its heartbeat (None: never heard).
    """
    if idle is None or idle > stale_seconds:
        return True
    if record.get("owner_host") != socket.gethostname():
        return False
    pid, started = record.get("owner_pid"), str(record.get("owner", "")).rpartition("/")[2]
    try:
        proc = psutil.Process(int(pid))
        return proc.status() == psutil.STATUS_ZOMBIE or f"{proc.create_time():.2f}" != started
    except (psutil.NoSuchProcess, TypeError, ValueError):
        return True


def _when(value: Any) -> str:
    return value.iso_format()[:19] if hasattr(value, "iso_format") else str(value)


def brief_write(graph: Graph, query_name: str, /, **params: Any) -> list[dict[str, Any]]:
    """Run query ``query_name`` in a transaction the server ends after ``BEAT_TIMEOUT``: a
    process frozen inside it must not keep the lock's record locked."""
    query = load(query_name)
    return graph.transaction(lambda tx: tx.run(query.text, params).data(), query_name,
                             timeout=BEAT_TIMEOUT)


class Heartbeat:
    """Calls ``beat`` every ``every`` seconds in a daemon thread while in use.

    ``beat`` refreshes the holder's record and returns False when the holder no longer
    holds it; ``lost`` then turns True and the beats stop. A beat that fails (the server
    is away) is skipped: the job's own queries will say so.
    """

    def __init__(self, beat: Callable[[], bool], every: float = HEARTBEAT_SECONDS) -> None:
        self._beat, self._every = beat, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="guanxi-heartbeat", daemon=True)
        self.lost = False

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        # Not waiting long: a beat stuck on a server that went away must not hold the
        # error back; the daemon thread ends with the process.
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                alive = self._beat()
            except GuanxiError:
                continue
            if not alive:
                self.lost = True
                return


def claim(graph: Graph, work: Callable[[neo4j.ManagedTransaction], T], tx_name: str, *,
          timeout: float, frozen: str) -> T:
    """Run the claim transaction ``work`` (take a record's lock, read its holder, take
    it over or not) with a server-side ``timeout``. A record another transaction keeps
    locked that long (a frozen process) counts as held: :class:`LockHeld` with
    ``frozen`` as its message."""
    try:
        return graph.transaction(work, tx_name, timeout=timeout)
    except QueryError as exc:
        # Stopped while waiting for the record's lock (LockClientStopped), or at its end.
        if exc.code not in TIMED_OUT:
            raise
        raise LockHeld(f"{frozen} (a frozen process?)",
                       "wait for it to finish or end it, then run again") from None


def acquire(graph: Graph, name: str, owner: Owner | None = None, *,
            stale_seconds: float = STALE_SECONDS, what: str | None = None) -> Holder | None:
    """Take the lock ``(:JobLock {id: name})`` for ``owner`` (default: this process).

    Returns the holder it took the lock over from (dead, or silent longer than
    ``stale_seconds``), so the job can log it; None when the lock was free or already
    ``owner``'s. Raises :class:`LockHeld`, naming the holder, while another live process
    holds it. ``what`` names the job (default: ``name``): it is kept on the lock, so that
    a refused acquire says what the holder runs ("another scoring is running: ...").
    """
    owner, what = owner or Owner.me(), what or name

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        # The first statement writes the node, which takes its lock for the rest of the
        # transaction; only then is the holder read, so two acquires cannot both succeed.
        tx.run(load("job_lock_merge").text, name=name).consume()
        row = tx.run(load("job_lock").text, name=name).single()
        record, idle = dict(row["lock"]), row["idle_seconds"]
        free = record.get("owner") in (None, owner.id)
        if free or holder_gone(record, idle, stale_seconds):
            tx.run(load("job_lock_take").text, name=name, owner=owner.params(),
                   job=what).consume()
            return {"lock": record, "idle": idle, "taken": True}
        return {"lock": record, "idle": idle, "taken": False}

    out = claim(graph, work, "job_lock_acquire", timeout=CLAIM_TIMEOUT,
                frozen=f"another {what} keeps the {name!r} lock's record locked")
    record = out["lock"]
    previous = Holder.of(record, out["idle"]) if record.get("owner") else None
    if not out["taken"]:
        raise LockHeld(f"another {previous.job or what} is running: {previous.describe()}",
                       f"wait for it to finish; a lock left by a dead run is taken over "
                       f"automatically after {stale_seconds:g} s (at once if it ran on this "
                       "host)")
    return previous if previous and previous.owner != owner.id else None


def release(graph: Graph, name: str, owner: Owner | None = None) -> bool:
    """Give up the lock ``name`` held by ``owner`` (default: this process).

    Only the holder's release removes it: a run whose lock was taken over leaves the new
    holder's alone. Returns whether ``owner`` held it.
    """
    owner = owner or Owner.me()
    return bool(brief_write(graph, "job_lock_release", name=name, owner=owner.id))


@dataclass
class Lease:
    """A lock held by :func:`held`: whom it was ``took_over`` from, and whether it is
    ``lost`` (taken over by another run since)."""

    name: str
    owner: Owner
    took_over: Holder | None
    heartbeat: Heartbeat
    what: str

    @property
    def lost(self) -> bool:
        return self.heartbeat.lost

    def check(self) -> None:
        """Raise :class:`LockLost` once another run has taken the lock over; call it
        before each step of the job."""
        if self.lost:
            raise LockLost(f"the {self.name!r} lock was taken over by another {self.what}",
                           "this run stopped; the one that took over goes on")


@contextlib.contextmanager
def held(graph: Graph, name: str, owner: Owner | None = None, *,
         stale_seconds: float = STALE_SECONDS, every: float | None = None,
         what: str | None = None) -> Iterator[Lease]:
    """Hold the lock ``name`` for the ``with`` block: :func:`acquire`, a heartbeat every
    ``every`` seconds (default: ``HEARTBEAT_SECONDS``, or a third of ``stale_seconds``
    when shorter), :func:`release` at the end, an exception's included.

    When the server went away (``ServerError``) the lock is not released (that would
    wait out the retries): it goes stale and the next run takes it over.
    """
    owner, what = owner or Owner.me(), what or name
    took_over = acquire(graph, name, owner, stale_seconds=stale_seconds, what=what)
    every = min(HEARTBEAT_SECONDS, stale_seconds / 3) if every is None else every

    def beat() -> bool:
        return bool(brief_write(graph, "job_lock_heartbeat", name=name, owner=owner.id))

    try:
        with Heartbeat(beat, every) as heartbeat:
            yield Lease(name, owner, took_over, heartbeat, what)
    except ServerError:
        raise
    except BaseException:
        with contextlib.suppress(GuanxiError):
            release(graph, name, owner)
        raise
    release(graph, name, owner)
