"""The warm-up ``guanxi ui`` runs as it starts (``ui/warm.py``): it reads what the first
views read, and a server that is not there only costs it a log line."""

from __future__ import annotations

import logging

import pytest
from helpers import free_port

from guanxi.graph.scores import current_run
from guanxi.ui import views
from guanxi.ui.common import cluster_table_of, score_histograms_of
from guanxi.ui.warm import warm, warm_quietly


def test_the_warm_up_fills_the_overviews_caches(app_env: dict,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    g = app_env["graph"]
    run = current_run(g).run
    cluster_table_of.clear()
    score_histograms_of.clear()
    assert warm() >= 0.0

    def read_again(*args: object) -> None:
        raise AssertionError("the Overview read again what the warm-up had read")

    monkeypatch.setattr(views, "cluster_table", read_again)
    monkeypatch.setattr(views, "score_histograms", read_again)
    assert len(cluster_table_of(g.settings.uri, run, g)) > 0
    assert set(score_histograms_of(g.settings.uri, run, g)) == {"ring_score", "pd"}


def test_no_server_is_a_log_line_not_an_error(monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NEO4J_PASSWORD", "x")
    monkeypatch.setenv("GUANXI_RETRY_SECONDS", "0")
    caplog.set_level(logging.INFO, logger="guanxi.ui.warm")
    warm_quietly()
    assert [r.getMessage().split(":")[0] for r in caplog.records
            if r.name == "guanxi.ui.warm"] == ["no warm-up"]
