"""``guanxi ui``: run the Streamlit app as a child process and say where it is.

The app reads Neo4j with the same settings as every command (``NEO4J_URI`` and its
companions, else the local server of ``GUANXI_DATA_DIR``), passed through the
environment; the password stays in the server process and never reaches a page, a
URL or the command line. It listens on 127.0.0.1 unless ``host`` says otherwise.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from guanxi.errors import InputError
from guanxi.interrupts import interrupt

__all__ = ["APP", "DEFAULT_HOST", "DEFAULT_PORT", "WARM_UP_ENV", "command", "serve"]

APP = Path(__file__).resolve().parent / "app.py"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
WARM_UP_ENV = "GUANXI_UI_WARM_UP"
"""``0`` in the app's environment: no warm-up as it starts (``guanxi ui --no-warm-up``)."""


def command(host: str, port: int, headless: bool) -> list[str]:
    """The Streamlit command line that serves the app (through ``ui/preload.py``, which
    imports the pages' libraries before the first page is asked for)."""
    return [sys.executable, "-m", "guanxi.ui.preload", "run", str(APP),
            "--server.address", host, "--server.port", str(port),
            "--server.headless", "true" if headless else "false",
            "--browser.gatherUsageStats", "false", "--global.developmentMode", "false"]


def _check_port(host: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise InputError(f"--port {port} is not a TCP port", "give a port from 1 to 65535")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                             "choose another port with --port, or another address with "
                             "--host") from None


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, headless: bool = False,
          warm_up: bool = True, data_dir: Path | None = None,
          say: Callable[[str], None] = print) -> int:
    """Serve the app until it stops (Ctrl-C); its exit code.

    ``data_dir`` is the local server's folder (``GUANXI_DATA_DIR``) when ``NEO4J_URI``
    is not set; ``warm_up`` False skips the start's background reads (``ui/warm.py``).
    Raises ``InputError`` when the port is taken or not a port.
    """
    if not host.strip():
        # Streamlit would take an empty address for every network interface.
        raise InputError("--host is empty",
                         "give an address: 127.0.0.1 (this machine only, the default) or "
                         "0.0.0.0 (every network)")
    _check_port(host, port)
    env = dict(os.environ)
    env[WARM_UP_ENV] = "1" if warm_up else "0"
    if data_dir is not None:
        env["GUANXI_DATA_DIR"] = str(Path(data_dir).expanduser().absolute())
    shown = f"[{host}]" if ":" in host else host
    say(f"guanxi app: http://{shown}:{port}  (Ctrl-C stops it)")
    # Not headless, Streamlit's first run asks for an e-mail address on stdin, and with
    # no terminal there it exits at once (a service manager, nohup).
    headless = headless or not sys.stdin.isatty()
    child = subprocess.Popen(command(host, port, headless), env=env)
    # SIGTERM (a service manager, kill) and SIGHUP (the terminal closed) stop the app as
    # Ctrl-C does, Streamlit with it: it must not go on serving with nobody to stop it.
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.terminate()
        try:
            return child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

