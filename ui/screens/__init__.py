"""The app's pages: scripts that ``ui/app.py`` routes to (``st.Page``), not modules to
import. Each calls the readers in ``ui/`` and draws; none holds business logic."""
