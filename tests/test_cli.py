"""Every command has help that a newcomer understands, with an example."""

from __future__ import annotations

import pytest
import typer.main

from guanxi.cli import app


def _commands(group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            yield from _commands(command, path)
        yield path, command


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_expected_commands_exist() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"db start", "db stop", "db status", "db init", "db query", "db stats"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path, command) -> None:
    text = command.help or ""
    assert len(text.splitlines()[0]) > 10, f"{path} has no one-line summary"
    assert "Example: guanxi " in text, f"`guanxi {' '.join(path)} --help` shows no example"
