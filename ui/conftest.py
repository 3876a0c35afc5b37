"""Pytest collects ``ui/`` for doctests; page scripts run Streamlit at import, so they
are left out (``tests/ui`` runs them with ``AppTest``)."""

collect_ignore_glob = ["app.py", "screens/*.py"]
