"""The ``guanxi`` command: thin Typer sub-commands over the library.

Every command has ``--help`` with an example; errors are one line with the fix
and a non-zero exit (see ``errors.py``); ``--json`` prints machine-readable output.
"""

from __future__ import annotations

import sys

import click
import typer

from guanxi.errors import GuanxiError
from guanxi.output import console

app = typer.Typer(
    name="guanxi",
    help="Merchant networks in Neo4j, scored for collusion and group credit.\n\n"
    "Example: guanxi db start && guanxi synth --merchants 20000 --out data/demo "
    "&& guanxi ingest data/demo",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# --- db ---------------------------------------------------------------------

# --- synth ------------------------------------------------------------------

# --- ingest -----------------------------------------------------------------


def main() -> None:
    """Console-script entry point: library errors become one line and exit code."""
    try:
        app(standalone_mode=False)
    except GuanxiError as exc:
        console.print(f"[red]error:[/red] {exc.one_line()}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # usage errors: bad option, missing argument
        exc.show()
        sys.exit(exc.exit_code)
    except (typer.Abort, click.exceptions.Abort):
        console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        console.print("interrupted; run the same command again to resume where it stopped")
        sys.exit(130)
