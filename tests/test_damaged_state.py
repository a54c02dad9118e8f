"""Every file the engine reads back is validated on load (RunStore.verify, WorkflowMemory.load, ops.read,
memory_sources): a damaged state file is either repaired from the journal (the source of truth), with a line on the
run's start saying what was rebuilt, or refused with one paragraph naming the file, what is wrong and the fix. Never
a traceback, never a finished issue redone silently.

A real run folder is made in-process with the loop's stub parts (tests/support/stubs.py): 6 issues, paused after 4
(memory on, an induction round every 2 successes: 2 rounds). Each case damages one file and resumes; a refusal
changes no file, a repair finishes the run redoing none of the 4 finished issues."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from awm.errors import UserError
from awm.memory import ops
from awm.run import events as ev
from awm.run.loop import Controls
from awm.run.parts import memory_sources
from awm.run.store import RunState
from awm.spec import MemorySpec, RunSpec, LLMSpec
from conftest import cli
from support.stubs import Run, make_run

FINISHED = {f"acme__app-{n}" for n in range(1, 5)}
REST = {"acme__app-5", "acme__app-6"}


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    """Runs made outside the runs folder are registered under the user data dir: this test's own."""
    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))


def paused_run(tmp_path: Path, memory: str = "on") -> Run:
    """6 issues, paused after the 4th: 4 finished (2 induction rounds with memory on), 2 to go."""
    run = make_run(tmp_path, 6, memory=memory)
    controls = Controls()
    run.agent.on_run = lambda n: controls.pause() if n == 4 else None
    result = run.engine(controls).run()
    assert result.outcome == RunState.PAUSED and {e["instance_id"] for e in run.journal()} == FINISHED
    run.agent.on_run = None
    run.agent.prompts.clear()  # from here on: which issues the resume runs
    return run


def files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name != ".lock"}


# ---------------------------------------------------------------- the damage

def cut(name: str, keep: float = 0.5) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        data = (run_dir / name).read_bytes()
        (run_dir / name).write_bytes(data[: int(len(data) * keep)])
    return damage


def write(name: str, text: str | bytes) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        path = run_dir / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return damage


def delete(name: str) -> Callable[[Path], None]:
    return lambda run_dir: (run_dir / name).unlink()


def edit_json(name: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        data = json.loads((run_dir / name).read_text())
        (run_dir / name).write_text(json.dumps(change(data)))
    return damage


def journal_lines(change: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        path = run_dir / "experiences.jsonl"
        path.write_text("".join(change(path.read_text().splitlines(keepends=True))))
    return damage


def without_steps(memory: dict) -> dict:
    del memory["workflows"][0]["steps"]
    return memory


def torn_fifth(run_dir: Path) -> None:
    """A kill while issue 5 was being recorded: its line cut short, checkpoint.json not yet rewritten."""
    with open(run_dir / "experiences.jsonl", "a") as f:
        f.write('{"instance_id": "acme__app-5", "problem_statement": "bug 5", "sta')


def ops_log(text: str) -> Callable[[Path], None]:
    return write(ops.OPS_FILE, text)


def both(*damages: Callable[[Path], None]) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        for d in damages:
            d(run_dir)
    return damage


OP = json.dumps({"time": "2024-01-01T00:00:00", "action": "disable", "id": "wf-fix-an-off-by-one", "note": ""})


@dataclass
class Case:
    damage: Callable[[Path], None]
    refused: list[str] = field(default_factory=list)  # words the one-paragraph message holds (a refusal)
    notice: list[str] = field(default_factory=list)  # words a start-line notice holds (a repair)
    redone: set[str] = field(default_factory=set)  # finished-by-the-journal issues the repair redoes (said so)
    absent: list[str] = field(default_factory=list)  # words the message must not hold
    memory: str = "on"


CASES: dict[str, Case] = {
    # memory.json: the induced workflows, which the journal cannot rebuild: refused with the fix
    "memory.json truncated": Case(cut("memory.json"), refused=["memory.json", "damaged", "not valid JSON",
                                                              "cut short", "echo '{}'"]),
    "memory.json garbage": Case(write("memory.json", b"\x00\x81\xfe garbage"), refused=["memory.json", "not text"]),
    "memory.json emptied": Case(write("memory.json", ""), refused=["memory.json", "it is empty", "Restore"]),
    "memory.json a list": Case(write("memory.json", "[1, 2]"), refused=["memory.json", "not the memory awm-tui "
                                                                        "writes", "a JSON list"]),
    "memory.json entry without steps": Case(edit_json("memory.json", without_steps),
                                            refused=["memory.json", "`workflows[0]` has no `steps`"]),
    "memory.json rounds not a list": Case(edit_json("memory.json", lambda m: {**m, "rounds": "two"}),
                                          refused=["memory.json", "`rounds` is str"]),
    "memory.json deleted after rounds": Case(delete("memory.json"), refused=["memory.json", "is missing",
                                                                            "induction rounds up to 1",
                                                                            "echo '{}'"]),
    "memory.json deleted, nothing induced": Case(delete("memory.json"), memory="off",
                                                 notice=["memory.json was missing", "induced nothing yet"]),
    # checkpoint.json: a view of the journal, rebuilt with a line
    "checkpoint.json truncated": Case(cut("checkpoint.json"), notice=["checkpoint.json was damaged",
                                                                      "not valid JSON", "rebuilt", "4 finished"]),
    "checkpoint.json a list": Case(write("checkpoint.json", "[]"), notice=["checkpoint.json was damaged",
                                                                           "a JSON list"]),
    "checkpoint.json finished_ids wrong": Case(edit_json("checkpoint.json", lambda c: {**c, "finished_ids": 4}),
                                               notice=["checkpoint.json was damaged", "`finished_ids`"]),
    "checkpoint.json deleted": Case(delete("checkpoint.json"), notice=["checkpoint.json was missing", "rebuilt"]),
    # config.json: what the run was started with, refused
    "config.json truncated": Case(cut("config.json"), refused=["config.json", "damaged", "not valid JSON",
                                                              "Restore config.json"]),
    "config.json a list": Case(write("config.json", "[]"), refused=["config.json", "not the mapping"]),
    "config.json deleted": Case(delete("config.json"), refused=["config.json", "is missing", "start a new run"]),
    # buffer.json, failures.json: lists of the journal's experiences, rebuilt with a line
    "buffer.json truncated": Case(cut("buffer.json"), notice=["buffer.json was damaged", "rebuilt"]),
    "buffer.json deleted": Case(delete("buffer.json"), notice=["buffer.json was missing", "rebuilt"]),
    "failures.json wrong shape": Case(write("failures.json", '{"instance_ids": 3}'),
                                      notice=["failures.json was damaged", "`instance_ids`"]),
    # the memory operation log: the user's edits
    "memory_ops damaged middle line": Case(ops_log("oops\n" + OP + "\n"),
                                           refused=[ops.OPS_FILE, "line 1", "not JSON", "sed -i '1d'"]),
    "memory_ops torn last line": Case(ops_log(OP + "\n" + OP[:30]), notice=[ops.OPS_FILE, "line 2", "cut short",
                                                                              "ignored"]),
    # the journal: the source of truth; fewer records than checkpoint.json lists is refused
    "journal emptied": Case(write("experiences.jsonl", ""), refused=["experiences.jsonl", "holds 0 finished",
                                                                     "(it is empty)", "lists 4", "delete",
                                                                     "checkpoint.json"]),
    "journal deleted": Case(delete("experiences.jsonl"), refused=["experiences.jsonl", "(it is missing)", "lists 4"]),
    "journal truncated mid-line": Case(cut("experiences.jsonl", 0.9),
                                       refused=["experiences.jsonl", "holds 3 finished", "cut short",
                                                "acme__app-4", "Restore experiences.jsonl"]),
    "journal bad middle line": Case(journal_lines(lambda lines: [lines[0], "garbage\n", *lines[2:]]),
                                    refused=["experiences.jsonl", "line 2", "not JSON", "lines after it"]),
    "journal bad last line": Case(journal_lines(lambda lines: [*lines[:3], '{"instance_id": "acme__app-4"}\n']),
                                  refused=["experiences.jsonl", "line 4", "the journal's last line",
                                           "not a finished issue", "sed -i '4d'"], absent=["after it"]),
    "journal torn line of an unfinished issue": Case(torn_fifth, notice=["experiences.jsonl", "line 5",
                                                                         "cut short", "acme__app-5", "redone"]),
    "journal truncated and checkpoint.json deleted": Case(
        both(cut("experiences.jsonl", 0.9), delete("checkpoint.json")),
        notice=["experiences.jsonl", "line 4", "cut short", "acme__app-4", "is redone"], redone={"acme__app-4"}),
}


def test_the_table_covers_at_least_16_kinds():
    assert len(CASES) >= 16


@pytest.mark.parametrize("case", list(CASES))
def test_resume_of_a_damaged_state_file_is_repaired_with_a_line_or_refused(tmp_path, case):
    c = CASES[case]
    run = paused_run(tmp_path, memory=c.memory)
    c.damage(run.store.dir)
    before = files(run.store.dir)
    if c.refused:
        with pytest.raises(UserError) as err:
            run.engine().run()
        message = err.value.message
        assert "\n" not in message, message  # one paragraph
        for word in c.refused:
            assert word in message, (word, message)
        for word in c.absent:
            assert word not in message, (word, message)
        assert files(run.store.dir) == before  # nothing changed: the evidence is kept for the fix
        assert run.agent.prompts == {}  # nothing ran
        return
    result = run.engine().run()
    assert result.outcome == RunState.COMPLETED, result.message
    assert set(run.agent.prompts) == REST | c.redone  # no finished issue redone, but those the line names
    [started] = [e for e in run.events if isinstance(e, ev.RunStarted) and e.resumed]
    said = " ".join(started.notices)
    for word in c.notice:
        assert word in said, (word, started.notices)
    assert {e["instance_id"] for e in run.journal()} == FINISHED | REST
    assert sorted(run.checkpoint()["finished_ids"]) == sorted(FINISHED | REST)
    for name in ("buffer.json", "failures.json", "memory.json"):
        json.loads((run.store.dir / name).read_text())  # whole again


def test_a_repaired_run_resumes_again_without_notices(tmp_path):
    run = paused_run(tmp_path)
    cut("checkpoint.json")(run.store.dir)
    run.engine().run()
    run.events.clear()
    run.engine().run()
    [started] = [e for e in run.events if isinstance(e, ev.RunStarted)]
    assert started.notices == ()


def test_an_empty_memory_written_by_the_user_induces_the_rounds_again(tmp_path):
    """The fix the memory.json messages give: `echo '{}' > memory.json` starts the memory over."""
    run = paused_run(tmp_path)
    calls = run.complete.calls
    (run.store.dir / "memory.json").write_text("{}\n")
    result = run.engine().run()
    assert result.outcome == RunState.COMPLETED and set(run.agent.prompts) == REST
    assert run.complete.calls - calls == 3  # rounds 1 and 2 again from the journal's successes, then round 3
    assert len(json.loads((run.store.dir / "memory.json").read_text())["rounds"]) == 3


def test_deleting_checkpoint_json_is_the_way_to_redo_what_an_emptied_journal_lost(tmp_path):
    """The second fix the lost-records message gives."""
    run = paused_run(tmp_path)
    (run.store.dir / "experiences.jsonl").write_text("")
    with pytest.raises(UserError):
        run.engine()
    (run.store.dir / "checkpoint.json").unlink()
    (run.store.dir / "memory.json").write_text("{}\n")  # its rounds learned from the lost issues
    result = run.engine().run()
    assert result.outcome == RunState.COMPLETED and set(run.agent.prompts) == FINISHED | REST


def test_an_issue_forgotten_after_an_error_streak_is_not_a_lost_record(tmp_path):
    """A kill between forgetting a streak's attempts (journal rewritten) and the next checkpoint: checkpoint.json
    still lists them, discarded.jsonl says they were forgotten, so the resume goes on."""
    run = paused_run(tmp_path)
    checkpoint = run.checkpoint()
    lines = run.store.journal.read_text().splitlines(keepends=True)
    run.store.journal.write_text("".join(lines[:3]))
    run.store.record_discarded("acme__app-4", "forgotten", 0.5, 100, 10)
    assert run.checkpoint() == checkpoint
    (run.store.dir / "memory.json").write_text("{}\n")
    result = run.engine().run()
    assert result.outcome == RunState.COMPLETED and set(run.agent.prompts) == REST | {"acme__app-4"}


@pytest.mark.parametrize("damage", [cut("checkpoint.json"), write("checkpoint.json", '{"stats": {"total": "x"}}'),
                                    write("config.json", "[]"), cut("config.json")])
def test_the_run_list_still_shows_a_run_with_a_damaged_file(tmp_path, damage):
    from awm.run.store import list_runs

    run = paused_run(tmp_path)
    damage(run.store.dir)
    [summary] = list_runs()
    assert summary.run_dir == run.store.dir
    assert run.store.state() in (RunState.PAUSED, RunState.NEW) and run.store.elapsed() >= 0


def test_the_memory_browser_keeps_what_it_read_and_says_why_not_more(tmp_path):
    from awm.run.memory_view import MemoryView

    run = paused_run(tmp_path)
    browser = MemoryView()
    browser.sync(run.store.dir)
    assert browser.memory is not None and browser.problem == ""
    entries = [w.id for w in browser.memory.workflows]
    cut("memory.json")(run.store.dir)
    browser.sync(run.store.dir)
    assert [w.id for w in browser.memory.workflows] == entries
    assert "memory.json" in browser.problem and "damaged" in browser.problem


# ---------------------------------------------------------------- a warm start's source: `memory.from`

@pytest.mark.parametrize("damage, words", [
    (cut("memory.json"), ["not valid JSON", "cut short"]),
    (write("memory.json", '{"workflows": [{"id": "wf-a", "name": "a", "steps": "one"}]}'),
     ["`workflows[0]` has a `steps` that is str"]),
    (write("memory.json", "[]"), ["a JSON list"]),
])
def test_a_damaged_memory_from_source_is_refused_naming_the_field_and_file(tmp_path, damage, words):
    run = paused_run(tmp_path / "source")
    damage(run.store.dir)
    for given in (str(run.store.dir), str(run.store.memory_path)):
        spec = RunSpec(llm=LLMSpec(model="stub/model"), name="warm", memory=MemorySpec(start_from=given))
        with pytest.raises(UserError) as err:
            memory_sources(spec)
        message = err.value.message
        assert "memory.from" in message and str(run.store.memory_path) in message and "damaged" in message
        assert "\n" not in message
        for word in words:
            assert word in message, (word, message)


# ---------------------------------------------------------------- the command line: exit 2, no traceback

def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWM_TUI_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(cli(*args), cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("damage, words", [
    (cut("memory.json"), ["memory.json", "damaged", "not valid JSON", "echo '{}'"]),
    (write("memory.json", '{"workflows": {"a": 1}}'), ["memory.json", "`workflows` is dict"]),
    (ops_log("oops\n" + OP + "\n"), [ops.OPS_FILE, "line 1", "sed -i '1d'"]),
])
def test_memory_list_on_damaged_memory_is_one_paragraph_and_exit_2(tmp_path, damage, words):
    run = paused_run(tmp_path)
    damage(run.store.dir)
    before = files(run.store.dir)
    for action in (["list"], ["disable", "wf-fix-an-off-by-one"])[: 2 if words[0] == ops.OPS_FILE else 1]:
        proc = run_cli(tmp_path, "memory", str(run.store.dir), *action)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        message = proc.stderr.strip()
        assert message.startswith("awm-tui: ") and "\n" not in message, message
        for word in words:
            assert word in message, (word, message)
    assert files(run.store.dir) == before
