"""Small helpers for tests (importable as ``helpers``; tests/ is on pytest's path)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


GUANXI = [sys.executable, "-m", "guanxi"]
"""The real ``guanxi`` command, as a child process of the tests' Python."""


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without NEO4J_* (tests choose their server), plus ``env``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    full_env.update(env or {})
    return full_env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real ``guanxi`` command in a child process and wait for it."""
    return subprocess.run([*GUANXI, *args], capture_output=True, text=True,
                          env=cli_env(env), timeout=timeout, cwd=cwd)
