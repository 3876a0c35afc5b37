"""Stop a command on Ctrl-C or SIGTERM without breaking a conversation with Neo4j.

Python raises ``KeyboardInterrupt`` between any two bytecodes of the main thread.
Raised inside the Neo4j driver, after a request went out and before its answer was
read, it leaves the connection out of step: the driver's clean-up then sends a
reset and waits, with no timeout, for an answer that never comes (a refresh stopped
by SIGTERM hung that way in CI). So a stop signal that arrives while the main thread
is :func:`uninterrupted` is held, and raised as ``KeyboardInterrupt`` the moment the
call returns. Other threads never receive signals, so they need no such guard. A
second signal while one is held stops at once: Ctrl-C twice does not wait for a long
statement (at the risk this module exists to avoid, which the person then accepts).

Example::

    stop_on(signal.SIGINT, signal.SIGTERM)
    with uninterrupted():
        driver.execute_query(...)  # a signal here is raised after the call returns
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["interrupt", "stop_on", "uninterrupted"]

_depth = 0  # how deep the main thread is in uninterrupted() blocks
_held: int | None = None  # a signal that arrived meanwhile


def interrupt(signum: int, frame: object) -> None:
    """Signal handler: raise ``KeyboardInterrupt`` now, or on leaving :func:`uninterrupted`;
    a second signal while one is held raises at once (Ctrl-C twice: stop waiting)."""
    global _held
    if _depth and _held is None:
        _held = signum
        return
    _held = None
    raise KeyboardInterrupt


def stop_on(*signals: signal.Signals) -> None:
    """Make each of ``signals`` stop the process as Ctrl-C does (``KeyboardInterrupt``),
    held while the main thread is :func:`uninterrupted`. Call from the main thread."""
    for sig in signals:
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
        if not _depth and _held is not None:
            _held = None
            raise KeyboardInterrupt
