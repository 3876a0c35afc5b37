"""Stop a command on Ctrl-C or SIGTERM without breaking a conversation with Neo4j.

Python raises ``KeyboardInterrupt`` between any two bytecodes of the main thread.
Raised inside the Neo4j driver, after a request went out and before its answer was
read, it leaves the connection out of step: the driver's clean-up then sends a
reset and waits, with no timeout, for an answer that never comes (a refresh stopped
by SIGTERM hung that way in CI). So a stop signal that arrives while the main thread
is :func:`uninterrupted` is held, and raised as ``KeyboardInterrupt`` the moment the
call returns. Other threads never receive signals, so they need no such guard.

A signal after the first stop (Ctrl-C twice, or a second SIGTERM while the command
cleans up) ends the process at once with exit 130 and one log line: the person does
not want to wait for the statement in flight. What that skips is what ``kill -9``
skips, which every job survives (a lock it held goes stale and is taken over).

Example::

    stop_on(signal.SIGINT, signal.SIGTERM)
    with uninterrupted():
        driver.execute_query(...)  # a signal here is raised after the call returns
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import NoReturn

__all__ = ["EXIT_CODE", "StoppedAfterCommit", "exit_stopped", "finished", "interrupt", "leave",
           "stop_on", "stopped", "uninterrupted"]

EXIT_CODE = 130
"""A command stopped by a signal exits 128 + SIGINT, as shells report Ctrl-C."""


class StoppedAfterCommit(KeyboardInterrupt):
    """A stop that came after the command's work was committed (a scoring run made
    current, which readers now read); ``done`` says what was, for the command's last
    line, and what was left undone is what a later run does again."""

    def __init__(self, done: str) -> None:
        super().__init__(done)
        self.done = done


_depth = 0  # how deep the main thread is in uninterrupted() blocks
_held = False  # a signal arrived meanwhile
_stopping = False  # a KeyboardInterrupt was raised: the command is winding down


def interrupt(signum: int, frame: object) -> None:
    """Signal handler: raise ``KeyboardInterrupt`` now, or on leaving
    :func:`uninterrupted`; after a first stop, exit at once."""
    global _held
    if _stopping or _held:
        _exit_now(signum)
    if _depth:
        _held = True
        return
    _stop()


def stop_on(*signals: signal.Signals) -> None:
    """Make each of ``signals`` stop the process as Ctrl-C does (``KeyboardInterrupt``),
    held while the main thread is :func:`uninterrupted`. A signal this process was
    started with ignored (``nohup``, a background job's SIGINT) stays ignored. Call
    from the main thread; it starts afresh (nothing held, no stop under way)."""
    global _held, _stopping
    _held = _stopping = False
    for sig in signals:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, interrupt)


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold a stop signal until the block ends, then raise ``KeyboardInterrupt``.

    Only the main thread's blocks count; elsewhere this does nothing. Keep the block
    to one bounded exchange with the server: a stop waits for it.
    """
    global _depth, _held
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _held:
            _held = False
            _stop()


def finished() -> None:
    """The command's work is done: from now on Ctrl-C and SIGTERM are ignored while it
    prints its result and exits (its exit handlers, the driver's close, and the
    interpreter's shutdown where :func:`leave` cannot skip it); a signal then ended
    the process by that signal, which a caller reads as a failure although everything
    was written. Call from the main thread."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def stopped() -> bool:
    """Whether a stop signal raised ``KeyboardInterrupt`` in this process."""
    return _stopping


def exit_stopped() -> NoReturn:
    """End a stopped command with :data:`EXIT_CODE` now, its log flushed.

    For a command whose own clean-up has run (it caught the ``KeyboardInterrupt`` and
    chose 130): the interpreter's shutdown after a ``KeyboardInterrupt`` raised early
    in a refresh sometimes ended the process by SIGINT instead (-2; 2 stops in 110,
    cause inside CPython not found), which a caller reading the exit status sees as
    another outcome.
    """
    _flush()
    os._exit(EXIT_CODE)


def leave(code: int | str | None) -> NoReturn:
    """Exit as ``sys.exit(code)`` would, once the exit handlers have run, but without
    the interpreter's teardown: freeing a refresh's millions of objects (ids, frames,
    tensors) one by one took 1.2 s at 100,000 merchants, a twentieth of an incremental
    run; the system takes the memory back at once. When a thread other than the main
    one still runs, or ``code`` is a message, it is ``sys.exit``: Python waits for that
    thread, and prints the message. As with Python's own exit, output that cannot be
    written (a full disk, a closed pipe) turns a success into exit 120."""
    others = [t for t in threading.enumerate()
              if t is not threading.main_thread() and not t.daemon]
    if others or not isinstance(code, int | None):
        # The teardown collects what a scoring command froze (gnn/memory.py): left
        # frozen, the native modules that count their objects at exit (triton's)
        # print that some leaked.
        gc.unfreeze()
        sys.exit(code)
    atexit._run_exitfuncs()  # the driver's close, the generated sources' removal
    written = _flush()
    os._exit(code or (0 if written else 120))


def _flush() -> bool:
    """Flush the log, Python's and C's standard streams; whether stdout took it all."""
    logging.shutdown()
    written = True
    try:
        if sys.stdout is not None:  # None: started with stdout closed
            sys.stdout.flush()
    except (OSError, ValueError):  # full disk, closed pipe, or closed by the command
        written = False
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    with contextlib.suppress(Exception):  # what native code (LightGBM, torch) printed
        ctypes.CDLL(None).fflush(None)
    return written


def _stop() -> None:
    global _stopping
    _stopping = True
    raise KeyboardInterrupt


def _exit_now(signum: int) -> NoReturn:
    """End the process with :data:`EXIT_CODE`, skipping clean-up (another signal came)."""
    logging.getLogger("guanxi").error(
        "stopped at once by a second %s: a lock this command held goes stale and the "
        "next run takes it over", signal.Signals(signum).name,
        extra={"event": "failed", "exit_code": EXIT_CODE})
    exit_stopped()
