"""Remembered preferences (issue 20): the theme, the log following, the queue's sort and failures-only filter and
the run picker's sort are written to the user config dir when they change and read at the next start; a damaged
file is ignored."""

from __future__ import annotations

import json

import pytest

import fake_engine
from awm_tui import prefs
from awm_tui.app import AwmApp
from test_tui import drive, fake_app, fakes, home, run_screen, runs, until  # noqa: F401

IDS = fake_engine.IDS


def prefs_file(home):
    return home / "config" / "prefs.json"


@pytest.mark.asyncio
async def test_theme_follow_queue_sort_and_filter_are_remembered_at_the_next_start(home, fakes):
    factory = fakes(hold_at=[f"issue:{IDS[1]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached(f"issue:{IDS[1]}"), what="an issue in flight")
        assert not prefs_file(home).exists()  # nothing changed yet: nothing written
        await pilot.press("2", "f", "1", "s", "x")
        app.theme = "textual-light"
        await pilot.pause()
        assert not screen.agent_log.follow and screen.queue.sort_by == "state" and screen.queue.failures_only
        factory.release()
    stored = json.loads(prefs_file(home).read_text())
    assert stored == {"theme": "textual-light", "follow": False, "queue_sort": "state", "failures_only": True}

    factory = fakes(hold_at=[f"issue:{IDS[1]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached(f"issue:{IDS[1]}"), what="an issue in flight")
        assert app.theme == "textual-light"
        assert not screen.agent_log.follow
        assert screen.queue.sort_by == "state" and screen.queue.failures_only
        await pilot.press("2", "f")  # following again: remembered too
        await pilot.pause()
        factory.release()
    assert json.loads(prefs_file(home).read_text())["follow"] is True


@pytest.mark.asyncio
async def test_the_pickers_sort_is_remembered(runs, home, fakes):
    app = AwmApp(factory=fakes())
    async with drive(app) as pilot:
        await until(pilot, lambda: getattr(app.screen, "ready", False), what="the picker")
        assert app.screen.sort_index == 0
        await pilot.press("s", "s")
        await pilot.pause()
    assert json.loads(prefs_file(home).read_text()) == {"picker_sort": "status"}
    app = AwmApp(factory=fakes())
    async with drive(app) as pilot:
        await until(pilot, lambda: getattr(app.screen, "ready", False), what="the picker")
        assert app.screen.sort_index == 2


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"theme": 3, "follow": "no", "queue_sort": "nonsense"}',
                                  "\udcff"])
@pytest.mark.asyncio
async def test_a_damaged_preferences_file_is_ignored(home, fakes, text):
    path = prefs_file(home)
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert not {"theme", "follow", "failures_only"} & set(prefs.load())  # wrong types dropped
    factory = fakes(hold_at=[f"issue:{IDS[1]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached(f"issue:{IDS[1]}"), what="an issue in flight")
        assert screen.agent_log.follow and screen.queue.sort_by == "position" and not screen.queue.failures_only
        assert app.theme == "textual-dark"
        factory.release()
    assert app.return_code in (None, 0)
