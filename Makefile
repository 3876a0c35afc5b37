# make demo : the main job on a fresh clone (venv, Neo4j, synthetic data, ingest)
# make test : lint and the test suite against a real local Neo4j (started and stopped by the tests)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= data/demo

.PHONY: install neo4j test demo lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# pip keeps what is already satisfied (torch is large: it is never reinstalled)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Neo4j's jars, then Graph Data Science's (optional: `guanxi db start` runs without it
# when it cannot be fetched, so a failure here is reported but does not stop make)
neo4j: install
	$(BIN)/python -c "from guanxi.graph.server import ensure_jars; print('neo4j jars in', ensure_jars())"
	-$(BIN)/python -c "from guanxi.graph.server import ensure_gds_jars; print('gds jars in', ensure_gds_jars())"

lint: install
	$(BIN)/ruff check .

test: lint neo4j
	$(BIN)/python -m pytest

demo: neo4j
	$(BIN)/guanxi db start
	$(BIN)/guanxi db init
	$(BIN)/guanxi synth --merchants 20000 --seed 7 --out $(DEMO_DIR) --force
	$(BIN)/guanxi ingest $(DEMO_DIR)
	$(BIN)/guanxi db stats
	@echo "Neo4j keeps running for you: bolt://127.0.0.1:7687 (guanxi db status; guanxi db stop)"

clean:
	-$(BIN)/guanxi db stop
	rm -rf .guanxi data/demo
