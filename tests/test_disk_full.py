"""A full disk is a safe stop (issue 19, item 5): wherever ENOSPC comes from (the agent's log, grading, the journal,
memory), the run pauses with a message naming the folder and the space to free, nothing half-written is left, and
resume continues to the result an unbroken run gives. In-process over stub parts, on real small tmpfs mounts, and
the whole demo on a tmpfs that fills up mid-run."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from support.stubs import make_run

from awm import atomic
from awm.run import disk
from awm.run.store import RunState

FULL = "OSError: [Errno 28] No space left on device: '/x/logs/instance_acme__app-3.log'"


def can_mount() -> bool:
    return os.geteuid() == 0 and Path("/proc/filesystems").read_text().count("tmpfs") > 0


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A real tmpfs of `size` at `path` (root only: the test is skipped elsewhere)."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", f"awm-test-{uuid.uuid4().hex[:8]}",
                           str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path) -> None:
    """Fill the file system holding `folder` to the last byte."""
    for name, chunk in (("filler", 65536), ("filler2", 1)):
        with open(folder / name, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * chunk)


def test_the_texts_of_a_full_disk_are_recognised():
    assert disk.is_full(OSError(errno.ENOSPC, "No space left on device"))
    assert disk.is_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert disk.is_full(FULL) and disk.is_full("agent: [Errno 28] No space left on device")
    try:
        try:
            raise OSError(errno.ENOSPC, "full")
        except OSError as inner:
            raise RuntimeError("tool failed") from inner
    except RuntimeError as outer:
        assert disk.is_full(outer)
    assert not disk.is_full(OSError(errno.EIO, "Input/output error")) and not disk.is_full("tests fail")
    assert not disk.is_full(None)


def test_an_issue_that_hits_a_full_disk_pauses_the_run_and_is_redone(tmp_path):
    run = make_run(tmp_path, 5, memory="off", script={3: "error: " + FULL})
    with pytest.raises(disk.DiskFull) as raised:
        run.engine().run()
    message = raised.value.message
    assert "the disk is full" in message and "/x/logs/instance_acme__app-3.log" in message
    assert "free on the disk holding" in message and "Free at least 64.0 MiB" in message
    assert f"awm-tui --no-ui --resume {run.store.dir}" in message and "\n" not in message
    assert [e["instance_id"] for e in run.journal()] == ["acme__app-1", "acme__app-2"]  # no ERROR recorded
    checkpoint = run.checkpoint()
    assert checkpoint["status"] == "paused" and "the disk is full" in checkpoint["message"]
    assert not (run.store.dir / disk.RESERVE).exists()  # given back for these records
    run.agent.script = {}
    resumed = run.engine().run()
    assert resumed.outcome == RunState.COMPLETED and resumed.stats.processed == 5 and resumed.stats.errors == 0
    assert (run.store.dir / disk.RESERVE).stat().st_size == disk.RESERVE_BYTES  # made again


def test_a_full_disk_in_grading_or_in_the_main_thread_pauses_too(tmp_path, monkeypatch):
    run = make_run(tmp_path / "a", 3, memory="off")
    run.evaluator.verdicts = {2: "crash"}
    engine = run.engine()
    engine.parts.evaluator.evaluate = lambda issue, patch, out: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device", str(out / "report.json")))
    with pytest.raises(disk.DiskFull) as raised:
        engine.run()
    assert "eval" in raised.value.message and run.journal() == []

    run = make_run(tmp_path / "b", 3, memory="off")
    engine = run.engine()
    real = engine.store.commit
    calls = []

    def commit(experience):
        calls.append(experience.instance_id)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(engine.store.journal))
        real(experience)

    monkeypatch.setattr(engine.store, "commit", commit)
    with pytest.raises(disk.DiskFull) as raised:
        engine.run()
    assert "experiences.jsonl" in raised.value.message
    assert [e["instance_id"] for e in run.journal()] == ["acme__app-1"]
    assert run.checkpoint()["status"] == "paused"


def test_a_journal_line_that_does_not_fit_is_cut_off_again(tmp_path):
    if not can_mount():
        pytest.skip("mounting a tmpfs needs root")
    with tmpfs(tmp_path / "small", "64k") as folder:
        journal = folder / "experiences.jsonl"
        atomic.append_line(journal, {"n": 1})
        before = journal.read_bytes()
        fill(folder)
        with pytest.raises(OSError) as raised:
            atomic.append_line(journal, {"n": 2, "text": "x" * 20000})
        assert raised.value.errno == errno.ENOSPC
        assert journal.read_bytes() == before  # no torn line left
        assert list(atomic.read_lines(journal)) == [{"n": 1}]


def test_a_disk_too_full_for_the_reserve_is_said_at_the_start(tmp_path):
    if not can_mount():
        pytest.skip("mounting a tmpfs needs root")
    with tmpfs(tmp_path / "small", "1m") as folder:
        run = make_run(folder, 2, memory="off")
        fill(folder)
        with pytest.raises(disk.DiskFull) as raised:
            run.engine().run()
        assert "the disk is full" in raised.value.message and str(folder) in raised.value.message
        assert run.journal() == []


# ------------------------------------------------------------------ the demo on a disk that fills up

@pytest.mark.slow
def test_the_demo_on_a_disk_that_fills_up_pauses_and_resumes_to_the_unbroken_result(awm_home, tmp_path):
    if not can_mount():
        pytest.skip("mounting a tmpfs needs root")
    from conftest import ROOT, cli

    from awm.run.launch import launch_spec, prepare_engine

    demo = str(ROOT / "specs" / "demo.yaml")
    limit = ["--limit", "4"]
    unbroken = tmp_path / "unbroken"
    # the unbroken run in this process, as test_e2e's reference is: the agent stack is imported once per test
    # process (a worker that already has it starts at once), not again in one more awm-tui
    spec = launch_spec(demo, None, {"output_dir": str(unbroken), "dataset.limit": 4})
    assert prepare_engine(spec, [], output_dir=str(unbroken)).run().outcome == "completed"
    size = sum(p.stat().st_size for p in unbroken.rglob("*") if p.is_file() and p.name != disk.RESERVE)
    # the reserve file, and about 60% of the rest of what the run writes: the disk fills up after an issue or two
    room = disk.RESERVE_BYTES + size * 6 // 10
    with tmpfs(tmp_path / "disk", f"{room // 1024}k") as folder:
        out = folder / "run"
        proc = subprocess.run(cli("--no-ui", demo, "--output-dir", str(out), *limit), cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        message = proc.stderr.strip()
        assert message.startswith("awm-tui: the disk is full") and "\n" not in message, message
        assert str(folder) in message and "Free at least" in message and "--resume" in message
        checkpoint = json.loads((out / "checkpoint.json").read_text())
        assert checkpoint["status"] == "paused" and "the disk is full" in checkpoint["message"]
        journal = out / "experiences.jsonl"
        done = [json.loads(x) for x in journal.read_text().splitlines()] if journal.exists() else []
        assert len(done) < 4 and all(e["status"] != "ERROR" for e in done)
        assert not list(folder.rglob("*.tmp"))  # nothing half-written
        subprocess.run(["mount", "-o", "remount,size=256m", str(folder)], check=True)
        proc = subprocess.run(cli("--no-ui", "--resume", str(out)), cwd=ROOT, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]

        def outcome(run: Path) -> tuple:
            journal = [json.loads(x) for x in (run / "experiences.jsonl").read_text().splitlines()]
            memory = json.loads((run / "memory.json").read_text())
            return ([(e["instance_id"], e["status"], e["workflow_ids"]) for e in journal],
                    sorted(w["name"] for w in memory["workflows"]))

        assert outcome(out) == outcome(unbroken)
