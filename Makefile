# make demo : the main job on a fresh clone (venv, Neo4j, synthetic data, ingest, train,
#             score, refresh), then the app in the foreground (Ctrl-C stops it)
# make test : lint and the test suite against a real local Neo4j (started and stopped by the tests)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= data/demo
# 10k merchants: training the shipped model takes about 5 minutes on 2 quiet cores
# (20k took 10.5 CPU-minutes, 21 minutes on a loaded machine); DEMO_MERCHANTS=20000 for more.
DEMO_MERCHANTS ?= 10000
UI_PORT ?= 8501
# Bolt port of the demo's local Neo4j (another Neo4j on 7687: make demo NEO4J_PORT=7688)
NEO4J_PORT ?= 7687

.PHONY: install neo4j browser test demo lint clean

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

# The end-to-end test drives Debian's Chromium through Selenium (never a downloaded
# browser); a CJK font draws the Chinese names in its screenshots. Installed with
# apt-get when missing (as root, or through sudo). If that fails, make goes on and the
# browser test fails saying what to install.
BROWSER_PACKAGES := chromium chromium-driver fonts-wqy-microhei
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && \
	    [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then \
	  echo "chromium, chromedriver and a CJK font found"; \
	else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing $(BROWSER_PACKAGES) with apt-get (for tests/ui/test_browser.py)"; \
	  { $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(BROWSER_PACKAGES); } || \
	  { echo "could not install $(BROWSER_PACKAGES) with apt-get: install them yourself" \
	         "(Debian/Ubuntu: apt-get install $(BROWSER_PACKAGES)); the browser test fails" \
	         "until /usr/bin/chromium and /usr/bin/chromedriver exist" >&2; }; \
	fi

test: lint neo4j browser
	$(BIN)/python -m pytest

demo: neo4j
	$(BIN)/guanxi db start --port $(NEO4J_PORT)
	$(BIN)/guanxi db init
	$(BIN)/guanxi synth --merchants $(DEMO_MERCHANTS) --seed 7 --out $(DEMO_DIR) --force
	$(BIN)/guanxi ingest $(DEMO_DIR)
	$(BIN)/guanxi db stats
	$(BIN)/guanxi train
	$(BIN)/guanxi score
	$(BIN)/guanxi refresh
	@echo "Neo4j keeps running after the app stops: bolt://127.0.0.1:$(NEO4J_PORT) (guanxi db status; guanxi db stop)"
	$(BIN)/guanxi ui --headless --port $(UI_PORT)

clean:
	-$(BIN)/guanxi db stop
	rm -rf .guanxi data/demo
