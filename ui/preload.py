"""What the app's pages import, loaded once when ``guanxi ui`` starts the server.

Streamlit runs a page's script in its server process; the first script to import pandas,
Altair (the charts), networkx, pyvis and the Neo4j driver pays for it, which made the
first page after a start take about two seconds. ``guanxi ui`` starts Streamlit through
:func:`main`, which imports them first and warms the server (``ui/warm.py``). Only
libraries and modules without Streamlit: the pages' caches must be made inside the
running server.
"""

from __future__ import annotations

import sys

__all__ = ["LIBRARIES", "import_libraries", "main"]

LIBRARIES = ("pandas", "pyarrow", "numpy", "altair", "networkx", "pyvis.network", "neo4j",
             "jinja2")


def import_libraries() -> None:
    """Import :data:`LIBRARIES` (``bench/ui_bench.py`` does it too, as the app does)."""
    import importlib

    for name in LIBRARIES:
        importlib.import_module(name)


def main() -> None:
    """Import :data:`LIBRARIES`, start the warm-up (``ui/warm.py``) in the background,
    then run Streamlit's command line (``sys.argv``)."""
    import threading

    import_libraries()
    from guanxi.ui.warm import warm_quietly

    threading.Thread(target=warm_quietly, name="guanxi-warm-up", daemon=True).start()
    from streamlit.web.cli import main as streamlit

    sys.argv[0] = "streamlit"
    streamlit()


if __name__ == "__main__":
    main()
