"""What the app's pages import, loaded once when ``guanxi ui`` starts the server.

Streamlit runs a page's script in its server process; the first script to import pandas,
Altair (the charts), networkx, pyvis and the Neo4j driver pays for it, which made the
first page after a start take about two seconds. ``guanxi ui`` starts Streamlit through
:func:`main`, which imports them first and, once Streamlit's runtime is up, warms the
server and fills the Overview's caches in a background thread (``ui/warm.py``); the
caches must be filled inside the running server, with its cache storage.
"""

from __future__ import annotations

import os
import sys

from guanxi.ui.serve import WARM_UP_ENV

__all__ = ["LIBRARIES", "import_libraries", "main"]

LIBRARIES = ("pandas", "pyarrow", "numpy", "altair", "networkx", "pyvis.network", "neo4j",
             "jinja2")


def import_libraries() -> None:
    """Import :data:`LIBRARIES` (``bench/ui_bench.py`` does it too, as the app does)."""
    import importlib

    for name in LIBRARIES:
        importlib.import_module(name)


def main() -> None:
    """Import :data:`LIBRARIES`, start the warm-up (``ui/warm.py``) in the background
    unless ``GUANXI_UI_WARM_UP=0``, then run Streamlit's command line (``sys.argv``)."""
    import logging
    import threading

    import_libraries()
    if os.environ.get(WARM_UP_ENV, "1") != "0":
        # One line on the console says whether the warm-up ran and how long it took;
        # Streamlit configures only its own loggers.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("guanxi: %(message)s"))
        warm_log = logging.getLogger("guanxi.ui.warm")
        warm_log.addHandler(handler)
        warm_log.setLevel(logging.INFO)
        threading.Thread(target=_warm_when_up, name="guanxi-warm-up", daemon=True).start()
    from streamlit.web.cli import main as streamlit

    sys.argv[0] = "streamlit"
    streamlit()


def _warm_when_up(wait_s: float = 60.0) -> None:
    # The warm-up fills the pages' caches; made before Streamlit's runtime exists, they
    # would not use the runtime's cache storage. Importing the pages' modules declares
    # those caches, so it waits too.
    import time

    from streamlit import runtime

    deadline = time.monotonic() + wait_s
    while not runtime.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    from guanxi.ui.warm import warm_quietly

    warm_quietly()


if __name__ == "__main__":
    main()
