"""The warm-up ``guanxi ui`` runs as it starts (``ui/warm.py``): it reads what the first
views read, and a server that is not there only costs it a log line."""

from __future__ import annotations

import logging

import pytest
from helpers import free_port

from guanxi.ui.warm import warm, warm_quietly


def test_the_warm_up_reads_the_first_views_on_a_scored_graph(app_env: dict) -> None:
    assert warm() >= 0.0


def test_no_server_is_a_log_line_not_an_error(monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NEO4J_PASSWORD", "x")
    monkeypatch.setenv("GUANXI_RETRY_SECONDS", "0")
    caplog.set_level(logging.INFO, logger="guanxi.ui.warm")
    warm_quietly()
    assert [r.getMessage().split(":")[0] for r in caplog.records
            if r.name == "guanxi.ui.warm"] == ["no warm-up"]
