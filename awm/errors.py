"""Errors a user can fix: shown as one paragraph, exit status 2, never a traceback.

The engine raises them with the spec field to change; the boundary that knows which file the spec came from (the
command line, the app, the Python API) names it with `located(path)`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class UserError(Exception):
    """A mistake in the user's input (spec, key, path, model) with the message that says how to fix it."""

    exit_code = 2

    def __init__(self, message: str, field: str | None = None, path: str | None = None):
        super().__init__(message)
        self.text = message
        self.field = field
        self.path = path

    @property
    def message(self) -> str:
        if self.field or self.path:
            return f"{where(self.path, field=self.field)}: {self.text}"
        return self.text

    def at(self, path: str | None) -> UserError:
        """This error, naming `path` as the file (unless it already names one)."""
        if self.path is None and path and self.field:
            self.path = path
        return self

    def __str__(self) -> str:
        return self.message


@contextlib.contextmanager
def located(path: str | None) -> Iterator[None]:
    """UserErrors raised inside name `path` as the file of their field."""
    try:
        yield
    except UserError as exc:
        raise exc.at(path) from None


def where(path: str | None, line: int | None = None, field: str | None = None) -> str:
    """'specs/x.yaml, line 4, field `llm.model`' — the prefix of every spec message."""
    parts = [path or "<spec>"]
    if line is not None:
        parts.append(f"line {line}")
    if field:
        parts.append(f"field `{field}`")
    return ", ".join(parts)


def brief(exc: BaseException, limit: int = 300, first_line: bool = True) -> str:
    """An exception as one short line for a message or a record: its type and its first line (or, with
    `first_line=False`, all its text on one line), at most `limit` characters.

    Args:
        exc: the exception.
        limit: the longest line returned.
        first_line: only the text's first line (a traceback-like message keeps its headline), else all of it joined.

    Returns:
        "ValueError: the first line", or the type's name alone when the exception has no text.
    """
    text = str(exc).strip()
    text = (text.splitlines() or [""])[0] if first_line else " ".join(text.split())
    return f"{type(exc).__name__}: {text}"[:limit] if text else type(exc).__name__
