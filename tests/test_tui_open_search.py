"""`o` opens the file shown in $PAGER (else $EDITOR, else less), the app suspended meanwhile; `/` searches or
filters the lists and logs that lack it. The headless driver of `run_test` cannot hand the terminal over: the tests
replace the app's `suspend` with a no-op context, and the pager with a script that records its argument."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest

import fake_engine
from test_tui import drive, fake_app, fakes, home, run_screen  # noqa: F401
from test_tui_run import mid_issue, recorded, write_instance_log

from awm_tui.pager import pager_command
from test_tui_detail_memory import (IDS, SIZE, DetailHost, MemoryHost, model_of, notes, opened,  # noqa: F401
                                   rows, run)



def recording_pager(tmp_path: Path) -> tuple[Path, Path]:
    """A pager that writes its arguments to a file: (the script, the file)."""
    record = tmp_path / "paged.txt"
    script = tmp_path / "fake-pager"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> {record}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, record


def no_suspend(app) -> list[int]:
    """The app's suspend made a no-op that counts its uses (the headless driver cannot suspend)."""
    used: list[int] = []

    @contextlib.contextmanager
    def suspend():
        used.append(1)
        yield

    app.suspend = suspend
    return used


def test_the_pager_is_pager_then_editor_then_less(tmp_path):
    script, _ = recording_pager(tmp_path)
    path = os.environ.get("PATH", "")
    assert pager_command("f.txt", {"PAGER": f"{script} -R", "EDITOR": "vi", "PATH": path}) == \
        [str(script), "-R", "f.txt"]
    assert pager_command("f.txt", {"EDITOR": str(script), "PATH": path}) == [str(script), "f.txt"]
    less = pager_command("f.txt", {"PATH": path})
    assert less is None or (Path(less[0]).name == "less" and less[1] == "f.txt")
    assert pager_command("f.txt", {"PATH": str(tmp_path / "empty")}) is None


@pytest.mark.asyncio
@pytest.mark.parametrize("tab, relative", [
    ("trajectory", "logs/instance_{id}.trajectory.json"),
    ("patch", "eval/{id}/patch.diff"),
    ("tests", "eval/{id}/test_output.txt"),
])
async def test_o_in_the_detail_opens_the_tabs_file_in_the_pager(run, tmp_path, monkeypatch, tab, relative):
    script, record = recording_pager(tmp_path)
    monkeypatch.setenv("PAGER", str(script))
    app = DetailHost(model_of(run), IDS[1])
    async with app.run_test(size=SIZE) as pilot:
        used = no_suspend(app)
        await opened(pilot, tab)
        await pilot.press("o")
        await pilot.pause()
        assert used == [1]
        assert record.read_text().splitlines() == [str(run / relative.format(id=IDS[1]))]


@pytest.mark.asyncio
async def test_o_says_when_the_file_is_not_there_or_no_pager_is_found(run, tmp_path, monkeypatch):
    script, record = recording_pager(tmp_path)
    monkeypatch.setenv("PAGER", str(script))
    (run / "eval" / IDS[1] / "patch.diff").unlink()
    app = DetailHost(model_of(run), IDS[1])
    async with app.run_test(size=SIZE) as pilot:
        used = no_suspend(app)
        await opened(pilot, "patch")
        await pilot.press("o")
        await pilot.pause()
        assert used == [] and not record.exists()
        assert any(n.startswith("No patch yet") for n in notes(app)), notes(app)
        # no pager anywhere
        monkeypatch.delenv("PAGER")
        monkeypatch.delenv("EDITOR", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        await opened(pilot, "tests")
        await pilot.press("o")
        await pilot.pause()
        assert used == [] and any(n.startswith("No pager found") for n in notes(app)), notes(app)


@pytest.mark.asyncio
async def test_o_without_a_terminal_to_hand_over_says_where_the_file_is(run, tmp_path, monkeypatch):
    script, record = recording_pager(tmp_path)
    monkeypatch.setenv("PAGER", str(script))
    app = DetailHost(model_of(run), IDS[1])
    async with app.run_test(size=SIZE) as pilot:  # the headless driver: App.suspend raises SuspendNotSupported
        await opened(pilot, "patch")
        await pilot.press("o")
        await pilot.pause()
        assert not record.exists()
        assert any("cannot be handed over" in n for n in notes(app)), notes(app)


@pytest.mark.asyncio
async def test_o_in_the_run_screen_opens_the_highlighted_issues_log_in_the_pager(home, fakes, tmp_path, monkeypatch):
    script, record = recording_pager(tmp_path)
    monkeypatch.delenv("PAGER", raising=False)
    monkeypatch.setenv("EDITOR", str(script))  # no $PAGER: the editor
    run_dir = tmp_path / "run"
    queue_ids = fake_engine.IDS
    log = write_instance_log(run_dir, queue_ids[0], f"/tmp/awm-1234/{queue_ids[0]}/tallyho")
    factory = fakes(hold_at=[f"issue:{queue_ids[2]}"], run_dir=str(run_dir))
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, queue_ids[2])
        used = no_suspend(app)
        said = recorded(app)
        await pilot.press("1", "home", "o")
        await pilot.pause()
        assert used == [1] and record.read_text().splitlines() == [str(log)]
        # the next issue has no log yet: it says so, and the pager is not started
        await pilot.press("down", "o")
        await pilot.pause()
        assert used == [1] and any(n.startswith(f"No log for {queue_ids[1]} yet") for n in said), said
        factory.release(f"issue:{queue_ids[2]}")


@pytest.mark.asyncio
async def test_n_in_the_searched_log_goes_to_the_next_match_and_without_a_search_lets_it_go_on(home, fakes):
    from textual.widgets import Input, Log

    queue_ids = fake_engine.IDS
    factory = fakes(hold_at=[f"issue:{queue_ids[3]}"])
    app = fake_app(factory)
    async with drive(app, size=(80, 24)) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, queue_ids[3])
        log = screen.query_one("#log", Log)
        await pilot.press("2", "slash")
        screen.query_one("#log-search", Input).value = "assertionerror"
        await pilot.press("enter")
        first = log.match_line
        assert first is not None
        log.focus()  # back in the log (the search box keeps the term): n is the next match
        await pilot.press("n")
        assert log.has_focus and log.match_line not in (None, first) and "AssertionError" in log.lines[log.match_line]
        second = log.match_line
        await pilot.press("n")
        assert log.match_line not in (None, second)
        await pilot.press("N")  # the one before: back to the second
        assert log.match_line == second and "(n/N)" in str(log.border_title)
        # the search closed: the log lets n go on to the screen (the next issue in flight)
        await pilot.press("slash", "escape")
        assert log.term == "" and log.has_focus
        await pilot.press("n")
        await pilot.pause()
        assert log.match_line is None and log.term == ""


@pytest.mark.asyncio
async def test_slash_in_the_picker_filters_the_runs_by_name_id_or_status(home):
    from textual.widgets import DataTable, Input, Static

    from awm.paths import runs_root
    from awm_tui.app import AwmApp

    root = runs_root()
    fake_engine.write_run(root / "alpha-20250102-030405", name="alpha", processed=3, status="paused",
                          updated_at="2025-01-02T03:04:05")
    fake_engine.write_run(root / "beta-20250101-101010", name="beta", processed=8, status="completed",
                          updated_at="2025-01-01T10:10:10")
    fake_engine.write_run(root / "delta-20241231-235959", name="delta", processed=5, status="aborted",
                          updated_at="2024-12-31T23:59:59")
    app = AwmApp(factory=fake_engine.factory())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)

        def names() -> list[str]:
            return [table.get_row_at(i)[8].plain for i in range(table.row_count)]

        assert names() == ["alpha", "beta", "delta"]
        await pilot.press("slash")
        box = app.screen.query_one("#runs-filter", Input)
        assert box.display and box.has_focus
        await pilot.press(*"BET")  # the name, any case
        assert names() == ["beta"] and "Runs (1/3)" in str(table.border_title)
        box.value = "20241231"  # the id (the run folder)
        await pilot.pause()
        assert names() == ["delta"]
        box.value = "paused"  # the status
        await pilot.pause()
        assert names() == ["alpha"]
        await pilot.press("enter")  # kept: the table has the focus, Enter opens the run shown
        assert app.focused is table and names() == ["alpha"] and box.display
        box.value = "nothing-like-it"
        await pilot.pause()
        assert names() == [] and "No run matches" in str(app.screen.query_one("#preview", Static).content)
        await pilot.press("escape")  # cleared and closed
        assert names() == ["alpha", "beta", "delta"] and not box.display and app.focused is table


@pytest.mark.asyncio
async def test_slash_in_the_memory_browser_filters_the_entries(run):
    from textual.widgets import DataTable, Input, Static

    app = MemoryHost(model_of(run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#memory-list", DataTable)
        every = [row[0] for row in rows(table)]
        assert len(every) > 2 and any("off-by-one" in name for name in every)
        table.focus()
        await pilot.press("slash")
        box = app.query_one("#memory-filter", Input)
        assert box.display and box.has_focus
        await pilot.press(*"OFF-BY")  # the name, any case (d, k and i typed here are text, not keys)
        await pilot.pause()
        assert [row[0] for row in rows(table)] == [n for n in every if "off-by-one" in n.lower()]
        assert f"of {len(every)} entries" in str(app.query_one("#memory-round-info", Static).content)
        box.value = "cache is filled"  # a step
        await pilot.pause()
        assert [row[0] for row in rows(table)] == ["Invalidate a stale cache"]
        await pilot.press("enter")  # kept, the table focused
        assert table.has_focus and box.display and len(rows(table)) == 1
        await pilot.press("escape")  # cleared and closed
        await pilot.pause()
        assert [row[0] for row in rows(table)] == every and not box.display and table.has_focus


@pytest.mark.asyncio
async def test_slash_on_the_run_screens_memory_tab_filters_the_memory_not_the_queue(home, fakes):
    from textual.widgets import Input

    queue_ids = fake_engine.IDS
    factory = fakes(hold_at=[f"issue:{queue_ids[1]}"])
    app = fake_app(factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await mid_issue(pilot, factory, screen, queue_ids[1])
        await pilot.press("4", "slash")
        await pilot.pause()
        box = screen.query_one("#memory-filter", Input)
        assert box.display and box.has_focus and not screen.query_one("#queue-filter", Input).display
        await pilot.press("escape")
        await pilot.pause()
        assert not box.display and screen.focused is not None and screen.focused.id == "memory-list"
        assert app.screen is screen  # Esc closed the filter only
        factory.release()
