"""`/` in a pane of text (the issue detail's problem, trajectory, patch, tests and memory): where a term is, in any
case, and the text with it highlighted. The panes are Statics in a scroll (or a Log for the test output); a line of
text may wrap, so a match's place on screen is counted in wrapped rows at the pane's width."""

from __future__ import annotations

import math
import re

from rich.cells import cell_len
from textual.content import Content

HIGHLIGHT = "reverse bold"


def pattern(term: str) -> re.Pattern[str]:
    return re.compile(re.escape(term.strip()), re.IGNORECASE)


def hit_lines(lines: list[str], term: str) -> list[int]:
    """The indices of the lines that hold `term` (any case), in order; none for an empty term."""
    term = term.strip().lower()
    return [i for i, line in enumerate(lines) if term and term in line.lower()] if term else []


def row_of(lines: list[str], line: int, width: int) -> int:
    """The screen row where `line` starts when every line wraps at `width` cells (at least one row each)."""
    width = max(1, width)
    return sum(max(1, math.ceil(cell_len(text) / width)) for text in lines[:line])


def highlighted(content: Content, term: str) -> Content:
    """`content` with every match of `term` (any case) shown reversed; itself for an empty term."""
    return content.highlight_regex(pattern(term), style=HIGHLIGHT) if term.strip() else content
