"""The output convention: tables for people, JSON for machines, text never read as markup."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli

from guanxi.output import emit_record, emit_rows


def test_table_and_json_keep_brackets_and_chinese(capsys) -> None:
    rows = [{"name": "[旗舰店]老王面馆", "n": 3}]
    emit_rows(rows, as_json=False)
    assert "[旗舰店]老王面馆" in capsys.readouterr().out
    emit_rows(rows, as_json=True)
    assert json.loads(capsys.readouterr().out) == rows
    emit_record({"note": "[bold]not markup[/bold]"}, as_json=False)
    assert "[bold]not markup[/bold]" in capsys.readouterr().out


def test_emoji_codes_in_user_text_print_as_written(capsys) -> None:
    emit_rows([{"line": "root:x:0:0:root:/root:/bin/bash :smile:"}], as_json=False)
    out = capsys.readouterr().out
    assert "root:x:0:0" in out and ":smile:" in out


def test_error_line_is_not_read_as_markup(tmp_path: Path, neo4j_env: dict) -> None:
    folder = tmp_path / "[2025]" / "missing"
    result = run_cli("ingest", str(folder), env=neo4j_env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: input folder {folder}")
