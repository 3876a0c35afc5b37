"""The app as a whole: routing, the banner when Neo4j is not there, the user's name,
and ``guanxi ui`` as a real process."""

from __future__ import annotations

import getpass
import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import GUANXI, cli_env, free_port, run_cli
from streamlit.testing.v1 import AppTest

from guanxi.ui.serve import APP

PAGES = ("overview", "cluster", "merchant", "credit", "cases", "saved_queries")


def test_the_entry_script_routes_to_the_overview(app_env: dict) -> None:
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "Overview"


@pytest.mark.parametrize("page", PAGES)
def test_an_unreachable_neo4j_gives_a_banner_not_a_trace(page: str,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{port}")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret-never-shown")
    at = AppTest.from_file(str(APP.parent / "screens" / f"{page}.py"), default_timeout=60).run()
    assert not at.exception
    banner = [e.value for e in at.error]
    assert banner == [f"Neo4j is not reachable at bolt://127.0.0.1:{port}: start it with "
                      f"`guanxi db start`, or set NEO4J_URI"]


@pytest.mark.parametrize("uri", ["bolt://neo4j:s3cret-in-uri@127.0.0.1:{port}",
                                 "http://neo4j:s3cret-in-uri@127.0.0.1:{port}"])
def test_a_password_in_the_uri_never_reaches_the_page(uri: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_URI", uri.format(port=free_port()))
    at = AppTest.from_file(str(APP.parent / "screens" / "overview.py"), default_timeout=60).run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "s3cret" not in shown
    assert "holds a user name or password. give the URI without them" in shown


def test_a_database_the_server_lacks_is_named_in_the_banner(neo4j_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    port = json.loads((neo4j_dir / "server.json").read_text())["port"]
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{port}")
    monkeypatch.setenv("NEO4J_PASSWORD", (neo4j_dir / "password").read_text().strip())
    monkeypatch.setenv("NEO4J_DATABASE", "nosuchdb")
    at = AppTest.from_file(str(APP.parent / "screens" / "overview.py"), default_timeout=60).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"Neo4j at bolt://127.0.0.1:{port} cannot be used: Neo4j at bolt://127.0.0.1:{port} "
        "has no database 'nosuchdb'. set NEO4J_DATABASE to one that exists (SHOW DATABASES "
        "lists them)"]


def test_no_local_server_gives_the_banner_too(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("GUANXI_DATA_DIR", str(tmp_path / "none"))
    at = AppTest.from_file(str(APP.parent / "screens" / "overview.py"), default_timeout=60).run()
    assert not at.exception
    assert "Neo4j is not reachable" in at.error[0].value
    assert "guanxi db start" in at.error[0].value


def _show_user() -> None:
    import streamlit as st

    from guanxi.ui.common import current_user

    st.markdown(current_user())


def test_the_user_is_the_os_user_unless_a_header_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUANXI_UI_USER_HEADER", raising=False)
    at = AppTest.from_function(_show_user).run()
    assert at.markdown[0].value == getpass.getuser()
    monkeypatch.setenv("GUANXI_UI_USER_HEADER", "X-Forwarded-User")
    at = AppTest.from_function(_show_user).run()
    assert not at.markdown  # no header in this request: nobody is assumed
    assert "X-Forwarded-User" in at.error[0].value


def test_ui_help() -> None:
    result = run_cli("ui", "--help")
    assert result.returncode == 0
    for option in ("--port", "--host", "--headless", "--no-warm-up", "Example: guanxi ui"):
        assert option in result.stdout


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_guanxi_ui_serves_on_loopback_only(app_env: dict) -> None:
    import threading

    port = free_port()
    proc = subprocess.Popen([*GUANXI, "ui", "--headless", "--port", str(port)],
                            env=cli_env(app_env["env"]), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        status, page = _first_answer(proc, port, lambda: "".join(lines))
        assert status == 200
        assert app_env["settings"].password not in page
        assert _listening(port) == {"0100007F"}  # 127.0.0.1, and nothing else
        # The warm-up filled the Overview's cache in the server, with nobody asking yet,
        # and says on the console when it is done.
        assert _cache_filled(port, "cluster_table_of", wait_s=60)
        for _ in range(240):
            if any("guanxi: warmed the app in" in line for line in lines):
                break
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGHUP)  # its terminal closed: Streamlit stops with it
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    output = "".join(lines)
    assert f"http://127.0.0.1:{port}" in output
    assert "guanxi: warmed the app in" in output
    assert "No runtime found" not in output  # its caches were made inside the server
    assert _listening(port) == set()


def _first_answer(proc: subprocess.Popen, port: int,
                  output: Callable[[], str]) -> tuple[int | None, str]:
    """The status and page of the app's first answer on ``port`` (within 2 minutes);
    fails with ``output()`` if the process ends first."""
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except OSError:
            assert proc.poll() is None, output()
            time.sleep(0.5)
    return None, ""


def _cache_filled(port: int, function: str, wait_s: float) -> bool:
    """Whether Streamlit's metrics show ``ui.common.<function>``'s cache holding data
    (a ``cache_memory_bytes`` line above 0: a function is listed, empty, as soon as its
    module is imported) within ``wait_s`` seconds."""
    wanted = f'cache="guanxi.ui.common.{function}"'
    deadline = time.monotonic() + wait_s
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/metrics",
                                    timeout=5) as r:
            metrics = r.read().decode().splitlines()
        if any(line.startswith("cache_memory_bytes{") and wanted in line
               and float(line.rsplit(" ", 1)[1]) > 0 for line in metrics):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def test_no_warm_up_leaves_the_caches_to_the_pages(app_env: dict) -> None:
    port = free_port()
    # As an operator's service would run it: the option's environment variable (the
    # same as --no-warm-up), no terminal and no --headless (Streamlit would then ask for
    # an e-mail address on stdin and exit).
    proc = subprocess.Popen([*GUANXI, "ui", "--port", str(port)],
                            env={**cli_env(app_env["env"]), "GUANXI_UI_WARM_UP": "0"},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _first_answer(proc, port, lambda: "")
        # The warm-up fills this cache within a second or two of the start on this graph.
        assert not _cache_filled(port, "cluster_table_of", wait_s=5)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_an_empty_host_is_refused(app_env: dict) -> None:
    result = run_cli("ui", "--host", " ", "--port", str(free_port()), env=app_env["env"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error: --host is empty")


def test_a_taken_port_is_one_line(app_env: dict) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli("ui", "--headless", "--port", str(port), env=app_env["env"])
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
