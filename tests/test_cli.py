"""Every command has help that a newcomer understands, with an example; what the
``db`` commands print for input a user gets wrong, or values Python cannot hold."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer.main
from helpers import run_cli

from guanxi.cli import app


def _commands(group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            yield from _commands(command, path)
        yield path, command


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_expected_commands_exist() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"db start", "db stop", "db status", "db init", "db query", "db stats"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path, command) -> None:
    text = command.help or ""
    assert len(text.splitlines()[0]) > 10, f"{path} has no one-line summary"
    assert "Example: guanxi " in text, f"`guanxi {' '.join(path)} --help` shows no example"


@pytest.mark.parametrize("uri", ["http://localhost:7474", "garbage", "bolt://:notaport"])
@pytest.mark.parametrize("command", ["status", "stats"])
def test_a_neo4j_uri_that_is_not_bolt_is_one_line(tmp_path: Path, uri: str, command: str) -> None:
    result = run_cli("db", command, "--data-dir", str(tmp_path), env={"NEO4J_URI": uri})
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: NEO4J_URI {uri!r} is not a ")
    assert lines[0].endswith("use bolt://HOST:7687 or neo4j://HOST:7687 (neo4j+s:// for Aura)")


def test_a_log_level_that_is_not_one_is_one_line(tmp_path: Path) -> None:
    result = run_cli("db", "status", "--data-dir", str(tmp_path), env={"GUANXI_LOG_LEVEL": "loud"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["error: GUANXI_LOG_LEVEL 'LOUD' is not a logging level. "
                                          "use DEBUG, INFO, WARNING or ERROR"]


def test_a_worker_count_that_is_not_one_is_one_line_before_any_work(tmp_path: Path) -> None:
    # No server in tmp_path: the command fails on the setting before it looks for one.
    result = run_cli("train", "--data-dir", str(tmp_path), env={"GUANXI_WORKERS": "all"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: GUANXI_WORKERS must be a whole number of at least 1, not 'all'. unset it to "
        "use every core, or set 1 to fit one model at a time"]


# Each value next to Neo4j's own text for it: what `db query` must print.
_STRANGE = ("WITH date('0000-01-01') AS d, datetime('-2024-08-01T12:00+01:30') AS dt, "
            "datetime('0000-01-01T00:00[Europe/Berlin]') AS dz, "
            "localdatetime('+12345-01-01T00:00') AS ldt, duration({years: 100000000}) AS big "
            "RETURN d, dt, dz, ldt, [d] AS listed, {d: d} AS mapped, big, "
            "[toString(d), toString(dt), toString(dz), toString(ldt), toString(big)] AS texts")


def test_db_query_prints_values_python_cannot_hold(neo4j_env: dict) -> None:
    result = run_cli("db", "query", _STRANGE, "--json", env=neo4j_env)
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)
    assert row["texts"] == [row["d"], row["dt"], row["dz"], row["ldt"], row["big"]]
    assert row["d"] == "0000-01-01" and row["dt"] == "-2024-08-01T12:00:00+01:30"
    assert row["listed"] == ["0000-01-01"] and row["mapped"] == {"d": "0000-01-01"}

    table = run_cli("db", "query", _STRANGE, env={**neo4j_env, "COLUMNS": "400"})
    assert table.returncode == 0, table.stderr
    assert "Traceback" not in table.stderr
    for text in row["texts"]:
        assert f" {text} " in table.stdout


@pytest.mark.parametrize("args", [
    ("ingest", "{missing}", "--json"),  # fails before loading: stdout would be empty
    ("db", "stats", "--json"),  # no server at all
])
def test_with_json_an_error_is_a_json_object_on_stdout(tmp_path: Path, args: tuple) -> None:
    argv = [a.format(missing=tmp_path / "nope") for a in args]
    result = run_cli(*argv, env={"GUANXI_DATA_DIR": str(tmp_path / "no-server")})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["exit_code"] == 1 and error["message"] and error["fix"]
    assert result.stderr.strip() == f"error: {error['message']}. {error['fix']}"


@pytest.mark.parametrize(("args", "message", "path"), [
    (("train", "--seed", "-5", "--json"), "Invalid value for '--seed'", "guanxi train"),
    (("evaluate", "--truth", "x", "--seed", "4294967296", "--json"), "Invalid value for '--seed'",
     "guanxi evaluate"),
    (("scores", "export", "--json"), "Missing option '--out'", "guanxi scores export"),
    (("nosuch", "--json"), "No such command 'nosuch'", "guanxi"),
])
def test_a_command_line_that_does_not_parse_is_json_too(tmp_path: Path, args: tuple,
                                                        message: str, path: str) -> None:
    result = run_cli(*args, env={"GUANXI_DATA_DIR": str(tmp_path / "no-server")})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "UsageError" and error["message"].startswith(message)
    assert error["fix"] == f"see `{path} --help`" and error["exit_code"] == 2
    assert message in result.stderr  # the usual message, for a person
    plain = run_cli(*args[:-1], env={"GUANXI_DATA_DIR": str(tmp_path / "no-server")})
    assert plain.returncode == 2 and plain.stdout == ""  # without --json: stderr only


def test_an_ingest_that_fails_prints_one_json_document(tmp_path: Path, neo4j_env: dict) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "merchants.csv").write_text("merchant_id\nM1\n", encoding="utf-8")
    (folder / "payments.csv").write_text("payer_id,payee_id,amount,ts\nC1,M1,-5,2025-01-01\n",
                                         encoding="utf-8")
    result = run_cli("ingest", str(folder), "--json", "--rejects", str(tmp_path / "r.csv"),
                     env=neo4j_env)
    assert result.returncode == 1
    report = json.loads(result.stdout)  # one document: the report, holding the error
    assert report["error"]["type"] == "RejectRateExceeded"
    assert report["files"][1]["status"] == "failed"


def test_a_crash_in_native_code_says_where() -> None:
    """A segfault inside a command (here one made on purpose in its place) prints the
    Python stack to stderr: the one clue an unattended job's log would have."""
    import subprocess
    import sys

    script = ("import ctypes, sys\n"
              "import guanxi.cli as cli\n"
              "sys.argv = ['guanxi']\n"
              "def crash():\n"
              "    ctypes.string_at(0)\n"
              "cli.app = crash\n"
              "cli.main()\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == -11
    assert "Fatal Python error: Segmentation fault" in done.stderr
    assert 'line 5 in crash' in done.stderr


@pytest.mark.parametrize("args, code", [(["--help"], 0), (["no-such-command"], 2)])
def test_the_exit_skips_the_teardown_but_not_the_exit_handlers_or_a_thread(
        args: list[str], code: int) -> None:
    """A command ends without the interpreter's teardown (``interrupts.leave``), yet
    what Python's own exit does still happens: exit handlers run, what they print is
    flushed, a thread still working is waited for, and the exit status is the same."""
    import subprocess
    import sys

    def run(thread: bool) -> subprocess.CompletedProcess:
        script = ("import atexit, sys, threading, time\n"
                  "from guanxi.cli import main\n"
                  "atexit.register(lambda: print('handler ran'))\n"
                  "class Freed:\n"
                  "    def __del__(self):\n"
                  "        sys.stderr.write('teardown ran')\n"
                  "kept = Freed()\n"
                  + ("threading.Thread(target=lambda: (time.sleep(1), print('thread done')))"
                     ".start()\n" if thread else "")
                  + f"sys.argv = ['guanxi', *{args!r}]\n"
                  "main()\n")
        return subprocess.run([sys.executable, "-c", script], capture_output=True,
                              text=True, timeout=120)

    done = run(thread=True)
    assert done.returncode == code, done.stderr
    assert done.stdout.endswith("thread done\nhandler ran\n")
    assert "teardown ran" in done.stderr  # Python's own exit, waiting for the thread
    done = run(thread=False)
    assert done.returncode == code, done.stderr
    assert done.stdout.endswith("handler ran\n") and "teardown ran" not in done.stderr


def test_a_teardown_that_cannot_be_skipped_collects_what_was_frozen() -> None:
    """A scoring command freezes what it imported (``gnn/memory.py``); when its exit
    cannot skip the teardown (a thread still runs), ``leave`` unfreezes first, so the
    teardown collects as Python's own does (a native module that counts its objects at
    exit, triton's, would otherwise print that some leaked)."""
    import subprocess
    import sys

    script = ("import gc, sys, threading, time\n"
              "from guanxi.cli import main\n"
              "class Cycle:\n"
              "    def __del__(self):\n"
              "        sys.stderr.write('collected')\n"
              "kept = Cycle()\n"
              "kept.me = kept\n"
              "del kept\n"  # only a collection frees it
              "gc.freeze()\n"
              "threading.Thread(target=lambda: time.sleep(0.5)).start()\n"
              "sys.argv = ['guanxi', '--help']\n"
              "main()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "collected" in done.stderr


def test_output_that_cannot_be_written_fails_the_command() -> None:
    """Skipping the teardown keeps Python's rule: a success whose output is lost (here a
    result still buffered when the command ends, into a pipe nobody reads) exits 120,
    not 0."""
    import subprocess
    import sys

    script = ("import sys\n"
              "import guanxi.cli as cli\n"
              "sys.argv = ['guanxi']\n"
              "cli.app = lambda: (print('the result'), sys.exit(0))\n"
              "cli.main()\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-c", script], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120, env=env)
    finally:
        os.close(write)
    assert done.returncode == 120, done.stderr


@pytest.mark.parametrize("args", [["--help"], ["refresh", "--help"]])
def test_help_into_a_full_device_is_one_line(args: list[str]) -> None:
    """``guanxi --help > /dev/full``: the help cannot be written; one line says so, and
    the exit is 120 (output lost), not a traceback."""
    import subprocess

    from helpers import GUANXI, cli_env

    with open("/dev/full", "w") as full:
        done = subprocess.run([*GUANXI, *args], stdout=full, stderr=subprocess.PIPE,
                              text=True, env=cli_env(None), timeout=120)
    assert done.returncode == 120, done.stderr
    assert done.stderr == "error: could not write: No space left on device\n"


def test_a_closed_stdout_is_no_crash(tmp_path: Path) -> None:
    """With stdout closed (``>&-``) a ``--json`` command still does its work and exits 0:
    the JSON goes nowhere, as ``print`` sends it."""
    import subprocess

    from helpers import GUANXI, cli_env

    done = subprocess.run([*GUANXI, "db", "status", "--json", "--data-dir", str(tmp_path)],
                          stderr=subprocess.PIPE, text=True, env=cli_env(None), timeout=120,
                          preexec_fn=lambda: os.close(1))
    assert done.returncode == 0, done.stderr


def test_a_closed_stderr_is_no_crash() -> None:
    """With stderr closed (``2>&-`` in a crontab) a command still runs."""
    import subprocess

    from helpers import GUANXI, cli_env

    done = subprocess.run([*GUANXI, "--help"], capture_output=False, stdout=subprocess.PIPE,
                          text=True, env=cli_env(None), timeout=120,
                          preexec_fn=lambda: os.close(2))
    assert done.returncode == 0
    assert "Usage:" in done.stdout
