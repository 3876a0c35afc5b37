"""The job lock against the real Neo4j, with real processes: one holder at a time, a dead
or silent holder taken over, a live or merely stopped one kept, release by the holder only."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import cli_env

from guanxi.graph import lock
from guanxi.graph.connection import Graph
from guanxi.queries import load

NAME = "refresh"
FAR = lock.Owner(1, "another-host", 0.0)

# A process that takes the lock once ``go`` exists, holds it until ``done`` exists, and
# says "lost" (exit 75) when another process takes it over meanwhile.
CHILD = r"""
import sys, time
from pathlib import Path
from guanxi.graph import lock
from guanxi.graph.connection import open_graph

name, every, go, done = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
graph = open_graph()
graph.verify()  # connected before the start line: the race is the acquire alone
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
try:
    with lock.held(graph, name, every=every) as lease:
        print("acquired", flush=True)
        while not done.exists():
            if lease.lost:
                print("lost", flush=True)
                sys.exit(75)
            time.sleep(0.01)
except lock.LockHeld as exc:
    print(exc.one_line(), file=sys.stderr, flush=True)
    sys.exit(exc.exit_code)
"""


class Child:
    """A real process running CHILD; its stdout lines are read by a thread."""

    def __init__(self, env: dict[str, str], go: Path, done: Path, every: float = 0.2) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, NAME, str(every), str(go), str(done)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.pid = self.proc.pid
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line.strip())

    def next_event(self, timeout: float = 120) -> str:
        """The next line it prints, or ``exit <code>`` once it ended without one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self._lines.get(timeout=0.01)
            except queue.Empty:
                pass
            if self.proc.poll() is not None:
                self._reader.join(timeout=5)
                if self._lines.empty():
                    return f"exit {self.proc.returncode}"
        raise AssertionError(f"child {self.pid} said nothing in {timeout} s")

    def expect(self, line: str, timeout: float = 120) -> None:
        event = self.next_event(timeout)
        assert event == line, (event, self.stderr())

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read()


@pytest.fixture
def spawn(neo4j_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """Starts Child processes on the session server; ends those still running."""
    children: list[Child] = []

    def start(go: Path | None = None, every: float = 0.2) -> Child:
        if go is None:  # no race to start: go at once
            go = tmp_path / "go-now"
            go.touch()
        child = Child(cli_env(neo4j_env), go, tmp_path / "done", every)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.proc.poll() is None:
            child.proc.kill()
        child.proc.wait()


def record(graph: Graph) -> dict[str, Any] | None:
    """The lock's record and its idle seconds, as the acquire reads them."""
    rows = graph.read(load("job_lock"), name=NAME)
    return rows[0]["lock"] | {"idle": rows[0]["idle_seconds"]} if rows[0]["lock"] else None


def test_two_runs_started_together_one_holds_the_other_is_told_who(
        graph: Graph, spawn: Any, tmp_path: Path) -> None:
    for attempt in range(3):  # each start is a fresh race
        go, done = tmp_path / f"go-{attempt}", tmp_path / "done"
        done.unlink(missing_ok=True)
        pair = [spawn(go), spawn(go)]
        for child in pair:
            child.expect("ready")
        go.touch()
        events = {child.pid: child.next_event() for child in pair}
        assert sorted(events.values()) == ["acquired", "exit 75"], events
        holder = next(c for c in pair if events[c.pid] == "acquired")
        loser = next(c for c in pair if c is not holder)
        message = loser.stderr()
        assert (f"another refresh is running: pid {holder.pid} on {socket.gethostname()} "
                "since ") in message
        assert "wait for it to finish" in message and "taken over automatically" in message
        assert record(graph)["owner_pid"] == holder.pid
        done.touch()
        assert holder.next_event() == "exit 0"
        assert record(graph).get("owner") is None  # released at the end of its run


def test_a_holder_killed_with_sigkill_is_taken_over_and_reported(graph: Graph,
                                                                 spawn: Any) -> None:
    child = spawn()
    child.expect("ready")
    child.expect("acquired")
    os.kill(child.pid, signal.SIGKILL)
    child.proc.wait()
    me = lock.Owner.me()
    # A long stale time: the take-over comes from the dead pid, not from silence.
    previous = lock.acquire(graph, NAME, me, stale_seconds=3600)
    assert previous is not None
    assert (previous.pid, previous.host) == (child.pid, socket.gethostname())
    assert previous.describe().startswith(f"pid {child.pid} on {socket.gethostname()} since ")
    assert record(graph)["owner"] == me.id


def test_a_live_or_stopped_holder_is_kept_until_its_heartbeat_is_stale(
        graph: Graph, spawn: Any) -> None:
    child = spawn(every=0.2)
    child.expect("ready")
    child.expect("acquired")
    me = lock.Owner.me()
    with pytest.raises(lock.LockHeld, match=f"pid {child.pid} on "):
        lock.acquire(graph, NAME, me, stale_seconds=1)
    os.kill(child.pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        with pytest.raises(lock.LockHeld):  # alive, just not heard from: kept for now
            lock.acquire(graph, NAME, me, stale_seconds=1)
        previous = None
        while previous is None and time.monotonic() - stopped < 60:
            try:
                previous = lock.acquire(graph, NAME, me, stale_seconds=1)
            except lock.LockHeld:
                time.sleep(0.2)
        waited = time.monotonic() - stopped
    finally:
        os.kill(child.pid, signal.SIGCONT)
    assert previous is not None and previous.pid == child.pid
    assert waited >= 1.0  # not before the stale time
    assert previous.idle_seconds > 1
    # Woken up, the old holder finds its lock taken and stops without releasing ours.
    child.expect("lost")
    assert child.next_event() == "exit 75"
    assert record(graph)["owner"] == me.id


def test_a_silent_holder_on_another_host_is_taken_over_only_once_stale(graph: Graph) -> None:
    assert lock.acquire(graph, NAME, FAR) is None
    me = lock.Owner.me()
    fresh = r"pid 1 on another-host since \S+ \(last heard \d+ s ago\)"
    with pytest.raises(lock.LockHeld, match=fresh):  # it may be alive over there
        lock.acquire(graph, NAME, me, stale_seconds=60)
    graph.write("MATCH (l:JobLock) SET l.heartbeat = datetime() - duration('PT2M')")
    previous = lock.acquire(graph, NAME, me, stale_seconds=60)
    assert previous is not None
    assert (previous.owner, previous.pid, previous.host) == (FAR.id, 1, "another-host")
    assert previous.idle_seconds >= 120
    assert record(graph)["owner"] == me.id


def test_a_refused_acquire_names_what_the_holder_runs(graph: Graph) -> None:
    lock.acquire(graph, NAME, FAR, what="scoring")
    with pytest.raises(lock.LockHeld, match="^another scoring is running: pid 1 on another-h"):
        lock.acquire(graph, NAME, lock.Owner.me(), what="refresh")


def test_only_the_holder_releases_the_lock(graph: Graph) -> None:
    me = lock.Owner.me()
    assert lock.acquire(graph, NAME, me) is None
    assert lock.acquire(graph, NAME, me) is None  # again by its holder: still its own
    assert lock.release(graph, NAME, FAR) is False
    assert record(graph)["owner"] == me.id
    with pytest.raises(lock.LockHeld):
        lock.acquire(graph, NAME, FAR)
    assert lock.release(graph, NAME, me) is True
    assert record(graph).get("owner") is None
    assert lock.acquire(graph, NAME, FAR) is None  # free: taken, nobody taken over


def test_held_releases_the_lock_when_the_job_fails(graph: Graph) -> None:
    me = lock.Owner.me()
    with pytest.raises(RuntimeError, match="job failed"), lock.held(graph, NAME, me):
        assert record(graph)["owner"] == me.id
        raise RuntimeError("job failed")
    after = record(graph)
    assert after.get("owner") is None and after["released_at"] is not None
    assert lock.acquire(graph, NAME, FAR) is None


def test_the_heartbeat_keeps_a_long_holder_fresh(graph: Graph) -> None:
    me = lock.Owner.me()
    # The control: the same holder without a heartbeat goes stale in the same time.
    lock.acquire(graph, "silent", me)
    with lock.held(graph, NAME, me, stale_seconds=1, every=0.2) as lease:
        time.sleep(3)
        assert record(graph)["idle"] <= 1
        with pytest.raises(lock.LockHeld):
            lock.acquire(graph, NAME, FAR, stale_seconds=1)
        assert not lease.lost
    taken = lock.acquire(graph, "silent", FAR, stale_seconds=1)
    assert taken is not None and taken.owner == me.id


def test_a_holder_taken_over_sees_it_lost_and_leaves_the_new_holder_alone(
        graph: Graph) -> None:
    with lock.held(graph, NAME, lock.Owner.me(), every=0.05) as lease:
        graph.write("MATCH (l:JobLock {id: $name}) SET l.owner = $other", name=NAME,
                    other=FAR.id)
        for _ in range(200):
            if lease.lost:
                break
            time.sleep(0.05)
        assert lease.lost
        with pytest.raises(lock.LockLost, match="taken over by another refresh") as err:
            lease.check()
        assert err.value.exit_code == 75
    assert record(graph)["owner"] == FAR.id


def test_a_record_locked_by_a_frozen_transaction_counts_as_held(
        graph: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process frozen inside a transaction that wrote the lock's record holds the
    record; an acquire waits at most CLAIM_TIMEOUT, then says the lock is held."""
    lock.acquire(graph, NAME, FAR)
    monkeypatch.setattr(lock, "CLAIM_TIMEOUT", 2.0)
    with graph.driver.session(database=graph.database) as session:
        frozen = session.begin_transaction()
        frozen.run("MATCH (l:JobLock {id: $name}) SET l.heartbeat = datetime()", name=NAME)
        try:
            with pytest.raises(lock.LockHeld, match="keeps the 'refresh' lock's record locked"):
                lock.acquire(graph, NAME, lock.Owner.me())
        finally:
            frozen.rollback()
