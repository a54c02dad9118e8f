"""`/` in the issue detail: each tab searched (any case), its matches highlighted, n and N moving between them
(wrapping), the view scrolled to the match, the search following the tab shown, Esc ending it before closing the
detail. Over the four-round run folder of tests/test_tui_detail_memory.py."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Log, Static, TabbedContent

from awm_tui.screens.detail import IssueDetail
from awm_tui.widgets.findtext import HIGHLIGHT, hit_lines, row_of
from test_tui_detail_memory import IDS, SIZE, DetailHost, model_of, opened, plain, run  # noqa: F401 - run: a fixture


def subtitle(detail: IssueDetail) -> str:
    return str(detail.query_one("#detail-box").border_subtitle)


def highlighted_at(static: Static) -> list[str]:
    """The text of each highlighted span of a Static's content."""
    content = static.content
    return [content.plain[s.start:s.end] for s in content.spans if str(s.style) == HIGHLIGHT]


async def search(pilot, term: str) -> None:
    await pilot.press("slash")
    box = pilot.app.screen.query_one("#detail-search", Input)
    assert box.display and box.has_focus
    box.value = term
    await pilot.press("enter")
    await pilot.pause()


@pytest.mark.asyncio
async def test_slash_finds_in_the_tab_shown_and_n_and_capital_n_move_between_matches(run):
    app = DetailHost(model_of(run), IDS[0])
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "trajectory")
        detail = app.screen
        trajectory = detail.query_one("#detail-trajectory", Static)
        lines = plain(trajectory).split("\n")
        expected = [i for i, line in enumerate(lines) if "file_editor" in line.lower()]
        assert len(expected) >= 2  # "▶ 2. file_editor" and "! file_editor: the file changed on disk"
        await search(pilot, "FILE_editor")
        assert not detail.query_one("#detail-search", Input).display
        assert highlighted_at(trajectory) == ["file_editor"] * len(expected)
        assert detail.hit == expected[0]
        assert subtitle(detail).startswith(f"/FILE_editor: line {expected[0] + 1}, match 1 of {len(expected)}")
        await pilot.press("n")
        assert detail.hit == expected[1] and f"match 2 of {len(expected)}" in subtitle(detail)
        await pilot.press("n")  # past the last: wraps to the first
        assert detail.hit == expected[2 % len(expected)]
        await pilot.press("N")  # the one before, wrapping backwards
        assert detail.hit == expected[(2 % len(expected) - 1) % len(expected)]
        await pilot.press("N")
        assert detail.hit == expected[(2 % len(expected) - 2) % len(expected)]
        # another tab: the same term searched there (the patch names no file_editor)
        await opened(pilot, "patch")
        assert detail.hit is None and "no match in this tab" in subtitle(detail)
        await search(pilot, "return value")
        patch = detail.query_one("#detail-patch", Static)
        assert highlighted_at(patch) == ["return value", "return value"] and "match 1 of 2" in subtitle(detail)
        # Esc ends the search (highlights gone, the keys' line back), then closes the detail
        await pilot.press("escape")
        assert isinstance(app.screen, IssueDetail) and detail.term == "" and highlighted_at(patch) == []
        assert subtitle(detail).startswith("Esc close")
        await pilot.press("escape")
        assert not isinstance(app.screen, IssueDetail)


@pytest.mark.asyncio
async def test_the_tests_tab_search_scrolls_its_output_to_the_match(run):
    app = DetailHost(model_of(run), IDS[3])
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "tests")
        detail = app.screen
        log = detail.query_one("#detail-output", Log)
        assert log.scroll_y == 0 and log.max_scroll_y > 0
        await search(pilot, "test_edge FAILED")
        line = next(i for i, text in enumerate(log.lines) if "test_edge FAILED" in text)
        assert detail.hit == line and log.scroll_y > 0
        assert log.scroll_y <= line < log.scroll_y + log.scrollable_content_region.height
        assert detail.query_one(TabbedContent).active == "tests"


@pytest.mark.asyncio
async def test_escape_in_the_open_search_box_closes_it_and_keeps_the_detail(run):
    app = DetailHost(model_of(run), IDS[0])
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, "problem")
        await pilot.press("slash")
        assert app.screen.query_one("#detail-search", Input).display
        await pilot.press("escape")
        assert isinstance(app.screen, IssueDetail) and not app.screen.query_one("#detail-search", Input).display


def test_matches_are_found_in_any_case_and_placed_in_wrapped_rows():
    lines = ["short", "x" * 25, "Needle here", "and a needle"]
    assert hit_lines(lines, "NEEDLE") == [2, 3] and hit_lines(lines, "  ") == []
    assert row_of(lines, 2, 10) == 1 + 3  # "x" * 25 takes three rows at 10 columns
    assert row_of(lines, 0, 10) == 0 and row_of(lines, 3, 80) == 3
