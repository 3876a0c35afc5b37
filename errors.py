"""The library's error classes.

Library code raises these; ``cli.py`` turns them into one line (the problem, then
the fix) and a non-zero exit. Anything else that escapes is a bug and keeps its
stack trace.
"""

from __future__ import annotations


class GuanxiError(Exception):
    """A problem the user can fix; ``fix`` says how."""

    exit_code = 1

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def one_line(self) -> str:
        return f"{self.message}. {self.fix}" if self.fix else self.message

    def as_dict(self) -> dict[str, str | int | None]:
        """The error for ``--json`` output and reports: its class, message, fix, exit code."""
        return {"type": type(self).__name__, "message": self.message, "fix": self.fix,
                "exit_code": self.exit_code}


class ServerError(GuanxiError):
    """The local Neo4j server could not be fetched, started, reached or stopped."""


class QueryError(GuanxiError):
    """A Cypher statement failed (bad syntax, a constraint, a missing parameter).

    ``code`` is Neo4j's status code when the server gave one
    (``Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists``), for callers that
    handle one case.
    """

    def __init__(self, message: str, fix: str | None = None, code: str | None = None) -> None:
        super().__init__(message, fix)
        self.code = code


class InputError(GuanxiError):
    """An input file, folder, mapping or argument is unusable as given."""


class RejectRateExceeded(InputError):
    """A file had more rejected rows than ``--max-reject-rate`` allows."""
