"""Errors a user can fix: shown as one paragraph, exit status 2, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (spec, key, path, model) with the message that says how to fix it."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def where(path: str | None, line: int | None = None, field: str | None = None) -> str:
    """'specs/x.yaml, line 4, field `llm.model`' — the prefix of every spec message."""
    parts = [path or "<spec>"]
    if line is not None:
        parts.append(f"line {line}")
    if field:
        parts.append(f"field `{field}`")
    return ", ".join(parts)
