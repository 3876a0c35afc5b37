"""A small scored synthetic graph in the session Neo4j, for the app's page tests.

``scored_graph`` (module scope) empties the session graph, loads a small synthetic
folder, trains with fast settings and scores it, so every page has clusters, scores,
embeddings and weekly flows to show. Tests in other folders empty the session graph
(the ``graph`` fixture), so each module that uses it builds its data again.

``app_env`` points the pages that ``AppTest`` runs in this process at that server
(``GUANXI_DATA_DIR``, no ``NEO4J_*``), as ``guanxi ui`` would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guanxi.gnn import pipeline
from guanxi.gnn.scorer import ScorerSettings
from guanxi.gnn.train import TrainSettings
from guanxi.graph.connection import Graph, open_graph
from guanxi.graph.schema import apply_schema
from guanxi.graph.scores import NoScores, current_run
from guanxi.graph.settings import Settings
from guanxi.ingest.load import IngestOptions, ingest_folder

UI_SYNTH = {"merchants": 400, "seed": 3, "difficulty": "easy", "rings_per_10k": 150,
            "label_fraction": 0.6}
"""The scoring tests' folder (tests/gnn/conftest.py): six rings, enough labels for
five folds, trains in seconds."""

FAST = ScorerSettings(use_gnn=True, gnn=TrainSettings(hidden=16, epochs=3, cross_fit_epochs=2,
                                                      ssl_epochs=2, threads=1))


@pytest.fixture(scope="session")
def ui_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic input folder, written once per session."""
    from guanxi.ingest.synth import SynthParams, generate

    folder = tmp_path_factory.mktemp("ui") / "synth"
    generate(SynthParams(**UI_SYNTH), folder)
    return folder


@pytest.fixture(scope="session")
def _scored_once() -> dict:
    """What the last ``scored_graph`` built, so that a module finding it intact reuses it."""
    return {}


@pytest.fixture(scope="module")
def scored_graph(neo4j_settings: Settings, neo4j_env: dict, ui_folder: Path,
                 tmp_path_factory: pytest.TempPathFactory, _scored_once: dict) -> dict:
    """The folder loaded into the emptied session graph, trained and scored; built again
    when a test elsewhere emptied the graph since.

    Returns ``graph``, ``settings``, ``env`` (a child process's environment: that
    server, that models folder), ``version`` (the model), ``folder``.
    """
    g: Graph = open_graph(neo4j_settings)
    if _scored_once and _intact(g, _scored_once["version"]):
        return _scored_once
    g.autocommit("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
    for index in ("merchant_embedding", "merchant_fastrp"):
        g.write("DROP INDEX $name IF EXISTS", name=index)
    apply_schema(g)
    rejects = tmp_path_factory.mktemp("ui-rejects") / "rejects.csv"
    assert ingest_folder(g, ui_folder, IngestOptions(rejects=rejects)).error is None
    models = tmp_path_factory.mktemp("ui-models")
    version = pipeline.train(g, FAST, models=str(models)).version
    pipeline.score(g, version=version, models=str(models))
    env = {**neo4j_env, "GUANXI_MODELS_DIR": str(models), "OMP_WAIT_POLICY": "PASSIVE"}
    _scored_once.update(graph=g, settings=neo4j_settings, env=env, version=version,
                        folder=ui_folder)
    return _scored_once


def _intact(g: Graph, version: str) -> bool:
    try:
        run = current_run(g)
    except NoScores:
        return False
    merchants = g.read("MATCH (m:Merchant) RETURN count(m) AS n")[0]["n"]
    return run.model_version == version and merchants == UI_SYNTH["merchants"]


@pytest.fixture
def app_env(scored_graph: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Point pages run in this process at the session server (as ``guanxi ui`` does)."""
    for name in ("NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD", "NEO4J_DATABASE",
                 "GUANXI_UI_USER_HEADER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GUANXI_DATA_DIR", scored_graph["env"]["GUANXI_DATA_DIR"])
    return scored_graph
