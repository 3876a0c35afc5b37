"""``python -m guanxi`` is the ``guanxi`` command."""

from guanxi.cli import main

main()
