"""D in a memory entry (issue 20): a unified diff of a version's rendered steps against the version before, in a
pane under the entry; D again goes one pair older, Esc closes the pane before the screen."""

from __future__ import annotations

import pytest
from textual.widgets import Select, Static

from awm_tui.screens.memory_entry import MemoryEntryScreen
from awm_tui.widgets.memory import MemoryBrowser
from test_tui_detail_memory import SIZE, MemoryHost, model_of, plain, run  # noqa: F401

pytestmark = pytest.mark.asyncio


async def test_shift_d_diffs_a_version_against_the_one_before_and_escape_closes_the_diff(run):
    app = MemoryHost(model_of(run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.query_one("#memory-round", Select).value = 1
        await pilot.pause()
        app.query_one("#memory-list").focus()
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MemoryEntryScreen)
        assert not screen.query_one("#entry-diff-box").display
        await pilot.press("D")
        await pilot.pause()
        box = screen.query_one("#entry-diff-box")
        assert box.display and box.region.height > 0
        diff = plain(screen.query_one("#entry-diff", Static)).splitlines()
        assert diff[0] == "--- v1 (round 1)" and diff[1] == "+++ v2 (round 3)" and diff[2].startswith("@@")
        assert "-1. Reproduce with the edge value" in diff
        assert "+1. Write a failing test at the edge value first" in diff
        assert "v1 → v2" in str(box.border_title)
        await pilot.press("D")  # no pair older than v1/v2: the pane closes
        await pilot.pause()
        assert not box.display
        await pilot.press("D")
        await pilot.pause()
        assert box.display
        await pilot.press("escape")  # the diff first
        await pilot.pause()
        assert app.screen is screen and not box.display
        await pilot.press("escape")  # then the entry
        await pilot.pause()
        assert app.screen is not screen and isinstance(app.screen.query_one(MemoryBrowser), MemoryBrowser)


async def test_shift_d_in_the_browser_opens_the_highlighted_entry_with_its_diff_shown(run):
    """The diff from the memory browser itself: D on a row, no Enter first."""
    app = MemoryHost(model_of(run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#memory-list")
        table.focus()
        names = [getattr(cell, "plain", str(cell)) for cell in (table.get_row_at(i)[0] for i in range(table.row_count))]
        table.move_cursor(row=names.index("Fix an off-by-one boundary"))
        await pilot.press("D")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MemoryEntryScreen) and screen.entry_id == "wf-fix-an-off-by-one-boundary"
        box = screen.query_one("#entry-diff-box")
        assert box.display
        diff = plain(screen.query_one("#entry-diff", Static)).splitlines()
        assert diff[:2] == ["--- v1 (round 1)", "+++ v2 (round 3)"]
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert not isinstance(app.screen, MemoryEntryScreen)
