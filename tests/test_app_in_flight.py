"""The app's run model with several issues in flight (workers > 1): each marked running, the log following one
(n: the next), the followed one finishing hands over to another, a stop leaves none marked running."""

from __future__ import annotations

from awm.records import Experience, Status
from awm.run import events as ev
from awm.run.stats import Stats
from awm_tui.model import RUNNING, WAITING, RunModel
from awm_tui.widgets.statusbar import StatusBar

IDS = ("a__b-1", "a__b-2", "a__b-3")


def started(model: RunModel, *ids: str) -> None:
    for n, iid in enumerate(ids, 1):
        model.apply(ev.IssueStarted(iid, n, len(IDS), (), 0))


def finished(model: RunModel, iid: str) -> None:
    model.apply(ev.IssueFinished(iid, 1, len(IDS), Status.PASS, "", 0.0, 1, 1.0, Stats(),
                                 experience=Experience(iid, "", Status.PASS)))


def test_every_issue_in_flight_is_running_and_the_log_follows_one():
    model = RunModel()
    model.apply(ev.RunStarted("r", "/r", "r", "m", IDS, (), False, Stats(total=3)))
    started(model, *IDS)
    assert [model.rows[i].state for i in IDS] == [RUNNING] * 3 and model.running == list(IDS)
    assert model.current == IDS[2]  # the newest start, until the user picks
    assert model.follow_next() == IDS[0] and model.follow_next() == IDS[1]
    finished(model, IDS[0])  # another one finishing does not move the followed one
    assert model.current == IDS[1] and model.running == [IDS[1], IDS[2]]
    finished(model, IDS[1])  # the followed one finishing hands over
    assert model.current == IDS[2] and model.follow_next() is None  # one left: nothing to switch to


def test_a_stop_leaves_nothing_marked_running_and_the_bar_counts_the_issues_in_flight():
    model = RunModel(name="r", model="m")
    model.apply(ev.RunStarted("r", "/r", "r", "m", IDS, (), False, Stats(total=3)))
    started(model, IDS[0], IDS[1])
    bar = StatusBar()
    shown = {}
    bar.update = lambda text, **options: shown.setdefault("text", text)
    bar.show(model)
    assert "2 in flight (n: next)" in shown["text"]
    model.apply(ev.RunFinished("paused", "stopped during a__b-1, a__b-2", Stats(), "/r"))
    assert [model.rows[i].state for i in IDS] == [WAITING] * 3 and model.running == [] and model.current is None
