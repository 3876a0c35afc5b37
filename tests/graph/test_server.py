"""The local server's lifecycle, through the real ``guanxi db`` command and real processes."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from helpers import as_in_a_terminal, cli_env, free_port, run_cli

from guanxi.errors import ServerError
from guanxi.graph import server


def _server_processes(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any("GuanxiNeo4j" in a for a in cmdline) and str(data_dir) in cmdline:
            found.append(proc)
    return found


def _status(data_dir: Path) -> dict:
    result = run_cli("db", "status", "--json", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_lifecycle_of_one_data_dir(tmp_path: Path) -> None:
    """One data dir, start to stop, with the ways a start can go wrong on the way (one
    test, because each fresh server costs half a minute of CI):

    - two starts at once make one server: the second waits, then finds it answering;
    - start and stop are idempotent; the password is the generated one;
    - a pid file left by a crash, naming a dead or unrelated pid, is recovered from;
    - a start after one interrupted while waiting for Bolt waits for Bolt too.
    """
    data_dir, port = tmp_path / "db", free_port()
    args = ["--data-dir", str(data_dir)]
    start = ["db", "start", "--port", str(port), "--heap", "512m", "--pagecache", "128m",
             "--json", *args]
    # Each child imports the command first, then runs it at the same instant as the
    # other: `guanxi db start & guanxi db start`, without the jitter of Python's start-up.
    at_once = ("import sys, time; from guanxi.cli import main; "
               "time.sleep(max(0.0, float(sys.argv[1]) - time.time())); "
               "sys.argv = ['guanxi', *sys.argv[2:]]; main()")
    go = str(time.time() + 5)
    first = None
    try:
        starts = [subprocess.Popen([sys.executable, "-c", at_once, go, *start],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=cli_env())
                  for _ in range(2)]
        results = [child.communicate(timeout=600) for child in starts]
        for child, (_, err) in zip(starts, results, strict=True):
            assert child.returncode == 0, err
        assert {json.loads(out)["note"] for out, _ in results} == {None, "already running"}
        assert all(json.loads(out)["version"].startswith("5.26.") for out, _ in results)
        servers = _server_processes(data_dir)
        assert len(servers) == 1
        assert {json.loads(out)["pid"] for out, _ in results} == {servers[0].pid}
        # The launcher runs compiled (once, into the cache), not from its source, and
        # nobody logged in before it had set the password (which would lock neo4j out
        # for five seconds).
        assert "GuanxiNeo4j" in servers[0].cmdline()
        assert not any(arg.endswith(".java") for arg in servers[0].cmdline())
        debug = (data_dir / "logs" / "debug.log").read_text(encoding="utf-8")
        assert "Bolt server started" in debug and "unauthorized" not in debug
        status = _status(data_dir)
        assert status["running"] is True and status["pid"] == servers[0].pid
        assert status["uri"] == f"bolt://127.0.0.1:{port}"
        assert (data_dir / "password").stat().st_mode & 0o777 == 0o600

        again = run_cli(*start)
        assert again.returncode == 0
        assert json.loads(again.stdout)["note"] == "already running"
        assert len(_server_processes(data_dir)) == 1

        # The password is the generated one, never neo4j/neo4j.
        denied = run_cli("db", "query", "RETURN 1 AS one", "--json",
                         env={"NEO4J_URI": f"bolt://127.0.0.1:{port}",
                              "NEO4J_USERNAME": "neo4j", "NEO4J_PASSWORD": "neo4j"})
        assert denied.returncode == 1 and "refused user" in denied.stderr

        stopped = run_cli("db", "stop", "--json", *args)
        assert stopped.returncode == 0 and json.loads(stopped.stdout)["note"] == "stopped"
        assert _server_processes(data_dir) == []
        assert _status(data_dir)["running"] is False
        again = run_cli("db", "stop", "--json", *args)
        assert again.returncode == 0 and json.loads(again.stdout)["note"] == "not running"

        # A pid file left by a crash, naming a pid that is dead (or someone else's).
        dead = subprocess.Popen(["true"])
        dead.wait()
        (data_dir / "server.pid").write_text(f"{dead.pid}\n")
        status = _status(data_dir)
        assert status["running"] is False and "stale pid file" in status["note"]
        (data_dir / "server.pid").write_text(f"{os.getpid()}\n")  # a live, unrelated pid
        restarted = run_cli(*start)
        assert restarted.returncode == 0, restarted.stderr
        assert "stale pid file" in json.loads(restarted.stdout)["note"]
        assert _status(data_dir)["running"] is True
        assert run_cli("db", "stop", *args).returncode == 0

        # Ctrl-C while a start waits for Bolt; the next start waits for it too.
        first = subprocess.Popen([sys.executable, "-m", "guanxi", *start],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=cli_env(), preexec_fn=as_in_a_terminal)
        deadline = time.monotonic() + 120
        while not _server_processes(data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _server_processes(data_dir), "the first start launched no server"
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 130
        assert "Neo4j may still be starting in the background" in err
        again = run_cli(*start)
        assert again.returncode == 0, again.stderr
        status = json.loads(again.stdout)
        assert status["note"] == "already running"
        assert status["version"].startswith("5.26.")  # it answered before the start returned
    finally:
        if first is not None and first.poll() is None:
            first.kill()
        run_cli("db", "stop", *args)
        for orphan in _server_processes(data_dir):  # what a failed run may leave
            orphan.kill()
    assert _server_processes(data_dir) == []


def test_a_jdk_without_javac_or_a_cache_without_room_runs_the_launcher_from_its_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = server.ensure_jars()
    java = tmp_path / "jre" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("")  # never run: only what lies beside it is looked at
    classes, main = server._launcher(str(java), lib)
    assert classes == [] and main.endswith("GuanxiNeo4j.java")
    classes, main = server._launcher(server.java_binary(), lib)
    assert main == "GuanxiNeo4j" and (Path(classes[0]) / "GuanxiNeo4j.class").exists()
    # A class cut short in the cache (it would fail every start) is compiled again.
    monkeypatch.setenv("GUANXI_CACHE", str(tmp_path / "copy"))
    classes, _ = server._launcher(server.java_binary(), lib)
    made = Path(classes[0]) / "GuanxiNeo4j.class"
    whole = made.read_bytes()
    made.write_bytes(whole[:100])
    assert server._launcher(server.java_binary(), lib) == (classes, "GuanxiNeo4j")
    assert made.read_bytes() == whole
    # A cache that cannot hold a folder (here: a file where the folder would go).
    (tmp_path / "cache").write_text("")
    monkeypatch.setenv("GUANXI_CACHE", str(tmp_path / "cache"))
    classes, main = server._launcher(server.java_binary(), lib)
    assert classes == [] and main.endswith("GuanxiNeo4j.java")


def test_a_start_logs_in_once_the_launcher_has_set_the_password(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log, state = logs / "server.log", tmp_path / "server.json"
    now = datetime.now(UTC)
    state.write_text(json.dumps({"started_at": now.isoformat(timespec="seconds")}))
    log.write_text("\n--- guanxi db start 1 ---\nguanxi-neo4j: started\n"
                   "\n--- guanxi db start 2 ---\n")
    assert not server._password_set(tmp_path)  # the latest launch has not said so yet
    log.write_text(log.read_text() + "guanxi-neo4j: started\n")
    assert server._password_set(tmp_path)
    # A log replaced by hand: no marker, so nothing to wait for; a log that lost the
    # line: Bolt is asked once the start is a minute old.
    log.write_text("")
    assert server._password_set(tmp_path)
    log.write_text("\n--- guanxi db start 3 ---\n")
    state.write_text(json.dumps({"started_at": (now - timedelta(seconds=61)).isoformat()}))
    assert server._password_set(tmp_path)


def test_a_failed_start_shows_the_javas_messages_not_its_stack_frames(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "server.log").write_text(
        "\n--- guanxi db start 1 ---\n"
        "Exception in thread \"main\" java.lang.RuntimeException: boom\n"
        "\tat org.neo4j.A.b(A.java:1)\n\tat org.neo4j.C.d(C.java:2)\n"
        "Caused by: java.net.BindException: Address already in use\n\t... 12 more\n")
    tail = server._log_tail(tmp_path)
    assert "\tat " not in tail and "more" not in tail
    assert "boom" in tail and "Address already in use" in tail


def test_start_with_another_port_than_the_running_server_is_an_error(neo4j_dir: Path) -> None:
    port = json.loads((neo4j_dir / "server.json").read_text())["port"]
    other = free_port()
    result = run_cli("db", "start", "--port", str(other), "--data-dir", str(neo4j_dir))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: Neo4j already runs in {neo4j_dir} with port {port}, not {other}. "
        "stop it first (`guanxi db stop`) to start it with other options")
    # Options not given are not compared: a plain start finds the server.
    plain = run_cli("db", "start", "--json", "--data-dir", str(neo4j_dir))
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["note"] == "already running"
    assert json.loads(plain.stdout)["uri"] == f"bolt://127.0.0.1:{port}"


def test_start_stop_and_status_respect_a_start_under_way(tmp_path: Path) -> None:
    data_dir = tmp_path / "db"
    data_dir.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (data_dir / "server.pid").write_text(f"{dead.pid}\n")
    with open(data_dir / "start.lock", "w") as lock:
        # Held as `guanxi db start` holds it while its server comes up.
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        status = _status(data_dir)
        assert status["running"] is False
        assert status["note"] == f"a `guanxi db start` or `stop` (pid {os.getpid()}) is under way"
        assert (data_dir / "server.pid").exists()  # the start may be about to replace it
        with pytest.raises(ServerError, match=f"\\(pid {os.getpid()}\\) still works on"):
            server.stop(data_dir, timeout=1)
        with pytest.raises(ServerError, match="still works on"):
            server.start(server.ServerConfig(data_dir, port=free_port()), timeout=1)
        assert _server_processes(data_dir) == []
    status = _status(data_dir)
    assert status["running"] is False and "stale pid file" in status["note"]
    assert not (data_dir / "server.pid").exists()


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("db", "start", "--port", str(port), "--data-dir", str(tmp_path / "db"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert "--port" in lines[-1] and "Traceback" not in result.stderr
    assert _server_processes(tmp_path / "db") == []


def _path_without(*programs: str) -> str:
    dirs = os.environ["PATH"].split(os.pathsep)
    return os.pathsep.join(
        d for d in dirs if not any((Path(d) / p).exists() for p in programs)
    )


def test_missing_java_is_one_clear_line(tmp_path: Path) -> None:
    env = {"PATH": _path_without("java"), "JAVA_HOME": ""}
    result = run_cli("db", "start", "--port", str(free_port()),
                     "--data-dir", str(tmp_path / "db"), env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: Java was not found")
    assert "install Java 17+" in result.stderr


def test_missing_maven_with_an_empty_cache_is_one_clear_line(tmp_path: Path) -> None:
    only_java = tmp_path / "bin"
    only_java.mkdir()
    (only_java / "java").symlink_to(shutil.which("java"))
    env = {"PATH": str(only_java), "GUANXI_CACHE": str(tmp_path / "cache")}
    result = run_cli("db", "start", "--port", str(free_port()),
                     "--data-dir", str(tmp_path / "db"), env=env)
    assert result.returncode == 1
    assert "error: Maven (mvn) is not on PATH" in result.stderr
    assert "Traceback" not in result.stderr


def test_offline_maven_is_one_clear_line(tmp_path: Path) -> None:
    # -o makes Maven offline; an empty local repository then lacks every jar.
    settings = tmp_path / "settings.xml"
    settings.write_text(
        "<settings><offline>true</offline>"
        f"<localRepository>{tmp_path / 'm2'}</localRepository></settings>"
    )
    env = {"GUANXI_CACHE": str(tmp_path / "cache"), "MAVEN_ARGS": f"-s {settings}"}
    result = run_cli("db", "start", "--port", str(free_port()),
                     "--data-dir", str(tmp_path / "db"), env=env)
    assert result.returncode == 1
    assert "error: could not fetch Neo4j" in result.stderr
    assert "Maven Central" in result.stderr and "Traceback" not in result.stderr


def test_unusable_data_dir_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli("db", "start", "--port", str(free_port()),
                     "--data-dir", str(blocker / "db"))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert f"{blocker} is not a folder" in last and "--data-dir" in last


def test_a_data_dir_that_is_a_dangling_symlink_is_named(tmp_path: Path) -> None:
    link = tmp_path / "db"
    link.symlink_to(tmp_path / "gone")
    result = run_cli("db", "start", "--port", str(free_port()), "--data-dir", str(link))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: the data directory {link} is a symlink to "
                           f"{tmp_path / 'gone'}, which leads nowhere")


def test_a_java_home_without_java_is_named(tmp_path: Path) -> None:
    # java is on PATH: the line must blame JAVA_HOME, not say Java is missing.
    result = run_cli("db", "start", "--port", str(free_port()),
                     "--data-dir", str(tmp_path / "db"), env={"JAVA_HOME": str(tmp_path)})
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: JAVA_HOME is {tmp_path}, which holds no bin/java")
    assert "unset it" in last
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\n")  # not executable
    result = run_cli("db", "start", "--port", str(free_port()),
                     "--data-dir", str(tmp_path / "db"), env={"JAVA_HOME": str(tmp_path)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: {java} cannot be run: Permission denied")


@pytest.mark.parametrize("command", ["start", "stop"])
def test_neo4j_uri_override_starts_nothing(tmp_path: Path, command: str) -> None:
    env = {"NEO4J_URI": "bolt://127.0.0.1:1", "NEO4J_PASSWORD": "x"}
    result = run_cli("db", command, "--data-dir", str(tmp_path / "db"), env=env)
    assert result.returncode == 0
    assert "NEO4J_URI is set" in result.stderr and "bolt://127.0.0.1:1" in result.stderr
    assert not (tmp_path / "db").exists()


def test_neo4j_uri_override_is_used_by_every_command(neo4j_dir: Path, tmp_path: Path) -> None:
    password = (neo4j_dir / "password").read_text().strip()
    port = json.loads((neo4j_dir / "server.json").read_text())["port"]
    env = {"NEO4J_URI": f"bolt://127.0.0.1:{port}", "NEO4J_USERNAME": "neo4j",
           "NEO4J_PASSWORD": password, "NEO4J_DATABASE": "neo4j"}
    # No local server in this data dir: only the override can answer.
    result = run_cli("db", "query", "RETURN $x + 1 AS y", "-p", "x=41", "--json",
                     "--data-dir", str(tmp_path / "none"), env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"y": 42}]
    status = run_cli("db", "status", "--json", env=env)
    assert json.loads(status.stdout)["version"].startswith("5.26.")

    down = {**env, "NEO4J_URI": f"bolt://127.0.0.1:{free_port()}", "GUANXI_RETRY_SECONDS": "2"}
    result = run_cli("db", "query", "RETURN 1", env=down)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot reach Neo4j")


def test_start_timeout_prints_the_log_tail_and_leaves_nothing_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "db"
    result = run_cli("db", "start", "--port", str(free_port()), "--timeout", "1",
                     "--data-dir", str(data_dir))
    assert result.returncode == 1
    assert "did not answer on bolt://127.0.0.1:" in result.stderr
    assert "within 1 s and was stopped; last log lines:" in result.stderr
    assert "--- guanxi db start" in result.stderr  # the tail of logs/server.log
    assert _server_processes(data_dir) == []
    assert not (data_dir / "server.pid").exists()


def test_gds_runs_in_the_server_from_its_own_jar_folder(neo4j_dir: Path) -> None:
    lib = server.gds_cache_dir() / "lib"
    assert (server.gds_cache_dir() / ".complete").exists()
    names = {p.name for p in lib.glob("*.jar")}
    # GDS's own jars, including its annotations jar (the server has another of that name).
    assert {"proc-2.13.9.jar", "opengds-extension-2.13.9.jar",
            "annotations-2.13.9.jar"} <= names
    dropped = [line.split(":")[1] for line in
               (server.gds_cache_dir() / "dropped.txt").read_text().splitlines()
               if not line.startswith("#")]
    # The third-party jars the server already has (two copies break the start).
    for artifact in ("caffeine", "commons-lang3", "commons-text", "eclipse-collections",
                     "jackson-core", "jackson-databind", "slf4j-api"):
        assert artifact in dropped
        assert not any(n.startswith(f"{artifact}-") and n[len(artifact) + 1].isdigit()
                       for n in names)
    conf = (neo4j_dir / "neo4j.conf").read_text()
    assert f"server.directories.plugins={lib}\n" in conf
    assert "dbms.security.procedures.unrestricted=gds.*\n" in conf
    assert f"{lib}/*" in " ".join(_server_processes(neo4j_dir)[0].cmdline())


def test_start_without_gds_against_a_server_with_gds_is_an_error(neo4j_dir: Path) -> None:
    with pytest.raises(ServerError, match="with Graph Data Science on, not off"):
        server.start(server.ServerConfig(neo4j_dir, gds=False))
    assert server.start(server.ServerConfig(neo4j_dir, gds=True)).note == "already running"
