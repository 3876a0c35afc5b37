"""The ``guanxi synth`` command: help with an example, summary output, one-line errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guanxi.cli import app

GUANXI = Path(sys.executable).parent / "guanxi"


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(app, ["synth", "--help"])
    assert result.exit_code == 0
    assert "Example: guanxi synth --merchants" in result.output


def test_json_summary_matches_manifest(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["synth", "--merchants", "600", "--seed", "3", "--out",
                                      str(out), "--difficulty", "easy", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert summary["rows"] == manifest["rows"]
    assert summary["entities"] == manifest["entities"]
    assert summary["parameters"]["difficulty"] == "easy"
    assert manifest["rows"]["merchants"] == 600


def test_table_summary_and_quiet(tmp_path: Path) -> None:
    proc = subprocess.run([str(GUANXI), "synth", "--merchants", "300", "--out",
                           str(tmp_path / "t"), "--format", "parquet", "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "payments.parquet" in proc.stdout and "planted rings" in proc.stdout
    assert "default rate" in proc.stderr
    assert (tmp_path / "t" / "merchants.parquet").exists()


@pytest.mark.parametrize(("args", "says"), [
    (["--merchants", "50"], "--merchants must be between 100"),
    (["--difficulty", "insane"], "unknown difficulty 'insane'"),
    (["--label-fraction", "1.5"], "--label-fraction must be between 0 and 1"),
    (["--format", "xlsx"], "unknown format 'xlsx'"),
])
def test_bad_arguments_one_line_and_nonzero_exit(tmp_path: Path, args: list[str],
                                                 says: str) -> None:
    out = tmp_path / "never"
    proc = subprocess.run([str(GUANXI), "synth", "--out", str(out), *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0]
    assert proc.stdout == ""
    assert not out.exists()


def test_unwritable_and_non_empty_folders(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    proc = subprocess.run([str(GUANXI), "synth", "--merchants", "200", "--out",
                           str(a_file / "sub")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: cannot write to --out {a_file / 'sub'}: Not a directory. "
        "Choose a folder you can write to"]
    proc = subprocess.run([str(GUANXI), "synth", "--merchants", "200", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Add --force" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert a_file.read_text() == "x"


def test_same_bytes_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    digests = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        proc = subprocess.run([str(GUANXI), "synth", "--merchants", "400", "--seed", "9",
                               "--difficulty", "hard", "--out", str(out), "--quiet"],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert proc.returncode == 0, proc.stderr
        digests.append({str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in sorted(out.rglob("*")) if p.is_file()})
    assert len(digests[0]) == 9 and digests[0] == digests[1]
