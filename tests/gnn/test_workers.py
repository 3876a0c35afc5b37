"""gnn/workers.py: fits side by side in threads and forked processes, results in order,
progress summed, errors raised, and workers that never outlive their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from guanxi.errors import InputError
from guanxi.gnn.workers import WorkerDied, in_processes, in_threads, workers


def test_worker_count_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("GUANXI_WORKERS", "3")
    assert workers() == 3
    for bad in ("two", "0", "-1", "²", "1.5"):
        monkeypatch.setenv("GUANXI_WORKERS", bad)
        with pytest.raises(InputError, match="GUANXI_WORKERS must be a whole number"):
            workers()
    monkeypatch.delenv("GUANXI_WORKERS")
    assert workers() == len(os.sched_getaffinity(0))


def test_threads_return_results_in_the_order_of_the_jobs() -> None:
    def job(i: int):
        return lambda: (time.sleep(0.02 * (5 - i)), i)[1]  # the first job ends last

    assert in_threads([job(i) for i in range(5)], 2) == [0, 1, 2, 3, 4]


def _pid_after(seconds: float):
    def job(step):
        for done in range(1, 4):
            time.sleep(seconds / 3)
            step(done, 3)
        return os.getpid()
    return job


def test_processes_run_elsewhere_in_order_and_sum_their_progress() -> None:
    seen: list[tuple[str, int, int]] = []
    pids = in_processes([_pid_after(0.6), _pid_after(0.1), _pid_after(0.1)], task="fit",
                        progress=lambda task, done, total: seen.append((task, done, total)),
                        count=2)

    assert os.getpid() not in pids
    assert len(set(pids)) == 2  # two workers shared the three jobs
    assert seen[-1] == ("fit", 9, 9)
    assert all(task == "fit" for task, _, _ in seen)
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)


def _tensor(step):
    import torch

    return {"weights": torch.arange(6.0).reshape(2, 3)}


def test_tensors_come_back_whole_after_their_worker_ended() -> None:
    # torch shares a tensor through a socket of the process that sent it: gone once
    # the worker has ended, so results must travel by value.
    import torch

    out = in_processes([_tensor, _tensor, _tensor], task="fit", count=2)
    assert all(torch.equal(o["weights"], torch.arange(6.0).reshape(2, 3)) for o in out)


def test_one_worker_runs_every_job_here_in_turn(monkeypatch) -> None:
    monkeypatch.setenv("GUANXI_WORKERS", "1")
    seen: list[int] = []
    pids = in_processes([_pid_after(0.01)] * 2, task="fit",
                        progress=lambda task, done, total: seen.append(done))
    assert pids == [os.getpid()] * 2
    assert seen == [1, 2, 3, 4, 5, 6]


def _fails(step):
    raise ValueError("fold 1 has no labels")


def test_an_error_in_one_job_is_raised_and_stops_the_others() -> None:
    before = set(psutil.Process().children())
    started = time.monotonic()
    with pytest.raises(ValueError, match="fold 1 has no labels") as raised:
        in_processes([_pid_after(30), _fails], task="fit", count=2)
    assert time.monotonic() - started < 15  # not after the 30-second job
    assert set(psutil.Process().children()) <= before  # the workers are gone
    assert "in _fails" in str(raised.value.__cause__)  # the worker's traceback


def _killed(step):
    os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would


def test_a_worker_that_dies_is_one_clear_error_not_a_hang() -> None:
    before = set(psutil.Process().children())
    started = time.monotonic()
    with pytest.raises(WorkerDied, match="killed by signal 9 .out of memory"):
        in_processes([_pid_after(30), _killed, _pid_after(0.1)], task="fit", count=2)
    assert time.monotonic() - started < 15
    assert set(psutil.Process().children()) <= before


def test_a_worker_killed_while_sending_its_result_is_an_error_not_a_hang(tmp_path) -> None:
    # The result starts a timer once pickled: the kill lands while its 300 MB are on
    # their way through the pipe. Run in a child process, so a hang fails the test.
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import os, signal, sys, threading
        from guanxi.gnn.workers import WorkerDied, in_processes

        class KillSoon:
            def __reduce__(self):  # pickled last: the timer starts as sending begins
                threading.Timer(0.35, os.kill, (os.getpid(), signal.SIGKILL)).start()
                return int, ()

        def job(step):
            return b"x" * 300_000_000, KillSoon()

        try:
            in_processes([job, lambda step: 1], task="fit", count=2)
        except WorkerDied as exc:
            print(exc.one_line())
            sys.exit(3)
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 3, done.stderr[-2000:]
    assert done.stdout.startswith("a worker process training a model was killed by signal 9")


def test_workers_end_when_their_parent_is_killed(tmp_path) -> None:
    # A real parent process running a long job in a worker, killed with SIGKILL: its
    # worker must not keep computing for nobody.
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import time
        from guanxi.gnn.workers import in_processes

        def forever(step):
            while True:
                time.sleep(0.1)

        in_processes([forever, forever], task="fit", count=2)
    """))
    parent = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 60
        kids: list[psutil.Process] = []
        while len(kids) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            kids = psutil.Process(parent.pid).children()
        assert len(kids) == 2, "the workers never started"
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while (alive := [k for k in kids if _running(k)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive, f"workers outlived their parent: {[k.pid for k in alive]}"
    finally:
        parent.kill()


def _running(proc: psutil.Process) -> bool:
    """Still computing: a process that ended but was not reaped (a zombie) is not."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
