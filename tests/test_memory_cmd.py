"""`awm-tui memory RUN ...`: list, show, edits through the operation log, export that another run can start from."""

from __future__ import annotations

import json

from awm.memory import ops
from awm.memory.store import WorkflowMemory
from awm_tui.commands.cli import main
from support.stubs import make_run
from test_memory_engine import engine_for, themed_issues

from awm.spec import MemorySpec


def finished_run(tmp_path):
    run = make_run(tmp_path, 4)
    run.issues = themed_issues()[:4]
    engine_for(run, memory=MemorySpec(retrieval="all")).run()
    return run


def test_list_show_and_edits(tmp_path, capsys):
    run = finished_run(tmp_path)
    folder = str(run.store.dir)
    assert main(["memory", folder, "list"]) == 0
    listing = capsys.readouterr().out
    assert "wf-fix-a-date-boundary" in listing and "Normalise text input" in listing and "active" in listing
    assert main(["memory", folder, "show", "wf-fix-a-date-boundary"]) == 0
    shown = capsys.readouterr().out
    assert "## Workflow: Fix a date boundary" in shown and "injected into 2 issues: 2 passed" in shown
    assert main(["memory", folder, "pin", "wf-normalise-text-input", "--note", "always"]) == 0
    assert main(["memory", folder, "disable", "wf-fix-a-date-boundary"]) == 0
    capsys.readouterr()
    assert [(o["action"], o["id"], o["note"]) for o in ops.read(run.store.dir)] == [
        ("pin", "wf-normalise-text-input", "always"), ("disable", "wf-fix-a-date-boundary", "")]
    assert main(["memory", folder, "list"]) == 0
    listing = capsys.readouterr().out
    assert "pinned" in listing and "disabled" in listing
    # memory.json itself is the engine's; the log is applied by readers
    assert not any(w.get("disabled") for w in json.loads(run.store.memory_path.read_text())["workflows"])


def test_mistakes_are_one_paragraph_and_status_2(tmp_path, capsys):
    run = finished_run(tmp_path)
    assert main(["memory", str(run.store.dir), "disable", "wf-nope"]) == 2
    err = capsys.readouterr().err
    assert "no such entry" in err and "wf-fix-a-date-boundary" in err and "Traceback" not in err
    assert main(["memory", str(tmp_path / "nowhere"), "list"]) == 2
    assert "no run found" in capsys.readouterr().err
    assert main(["memory", str(run.store.dir), "pin"]) == 2
    assert "which entry" in capsys.readouterr().err


def test_export_is_a_memory_another_run_starts_from(tmp_path, capsys):
    run = finished_run(tmp_path)
    out = tmp_path / "exported.json"
    assert main(["memory", str(run.store.dir), "disable", "wf-normalise-text-input"]) == 0
    assert main(["memory", str(run.store.dir), "export", str(out)]) == 0
    data = json.loads(out.read_text())
    fresh = WorkflowMemory(10)
    fresh.seed(data, str(out))
    assert {w.id for w in fresh.active()} == {"wf-fix-a-date-boundary"}  # the disabled one stays disabled


def test_edits_are_told_in_plain_words(tmp_path, capsys):
    run = finished_run(tmp_path)
    folder = str(run.store.dir)
    said = {}
    for action in ("pin", "unpin", "disable", "enable"):
        assert main(["memory", folder, action, "wf-normalise-text-input"]) == 0
        said[action] = capsys.readouterr().out
    assert said["pin"].startswith("pinned wf-normalise-text-input (") and "pind" not in said["pin"]
    assert said["unpin"].startswith("unpinned wf-normalise-text-input (")
    assert said["disable"].startswith("disabled wf-normalise-text-input (")
    assert said["enable"].startswith("enabled wf-normalise-text-input (") and "enabled d" not in said["enable"]
    assert all("from its next issue" in line for line in said.values())


def test_export_to_a_path_that_cannot_be_written_is_refused_before_reading(tmp_path, capsys):
    run = finished_run(tmp_path)
    folder = str(run.store.dir)
    (tmp_path / "taken").write_text("mine")
    for target, problem in ((tmp_path, "is a folder, not a file"),
                            (tmp_path / "taken" / "memory.json", f"is under {tmp_path / 'taken'}, which is a file"),
                            (tmp_path / ("m" * 300 + ".json"), "too long a name")):
        assert main(["memory", folder, "export", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"awm-tui: memory {folder} export: FILE ") and err.count("\n") == 1, err
        assert problem in err and "nothing was written" in err and "Traceback" not in err
    assert (tmp_path / "taken").read_text() == "mine"
    assert main(["memory", folder, "export", str(tmp_path / "new" / "memory.json")]) == 0  # a new folder is made
    assert json.loads((tmp_path / "new" / "memory.json").read_text())["workflows"]
