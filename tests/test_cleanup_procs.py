"""Ending an issue's processes (awm.processes): the tag every process started for an issue carries, the /proc scan
that finds what carries it (and its descendants), the kill, the watchdog that does it when awm-tui is killed, and
grading commands that end with everything they started. Real short-lived processes; milliseconds each, but for
the ones that wait on a process's death (a second or so)."""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from awm import processes as limits
from awm.processes import (TAG_VAR, end_processes, find, new_token, processes, run_token, send, shell_env,
                              tag_env)
from awm.agent.workspace import LocalCheckout
from awm.grading.base import run_step, run_tests

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

ROOT = Path(__file__).resolve().parents[1]


def alive(pid: int) -> bool:
    """Running (a zombie is dead: only its parent's wait is missing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def wait_gone(pids, within: float = 5.0) -> list[int]:
    """The pids still alive after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.02)
    return [p for p in pids if alive(p)]


def start(script: str, token: str = "", cwd: Path | None = None, **popen) -> tuple[subprocess.Popen, list[int]]:
    """`sh -c script` (tagged with `token`), which prints the pids it wants watched, one a line, then 'ok'."""
    env = {**os.environ, **(tag_env(token) if token else {})}
    proc = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, text=True, env=env, cwd=cwd, **popen)
    pids = []
    for line in proc.stdout:
        if line.strip() == "ok":
            break
        pids.append(int(line))
    return proc, pids



# ---------------------------------------------------------------- tokens and tags


def test_tokens_are_fresh_and_the_run_token_is_the_runs():
    assert new_token("i") != new_token("i") and new_token("i").startswith("i-")
    assert run_token(Path("/tmp/awm-1")) == run_token(Path("/tmp/awm-1")) != run_token(Path("/tmp/awm-2"))


def test_the_tag_keeps_a_tag_this_process_carries_itself():
    assert tag_env("i-1", "", "o-2", base={}) == {TAG_VAR: "i-1 o-2"}
    assert tag_env("i-1", base={TAG_VAR: "o-outer"}) == {TAG_VAR: "o-outer i-1"}


def test_the_shell_env_is_the_tag_and_the_hidden_variables_emptied(monkeypatch):
    monkeypatch.setenv("AWM_TEST_SECRET_KEY", "sk-123")
    monkeypatch.delenv("AWM_TEST_ABSENT", raising=False)
    env = shell_env(["i-1", "o-2"], hide=["AWM_TEST_SECRET_KEY", "AWM_TEST_ABSENT"])
    assert env == {"AWM_TEST_SECRET_KEY": "", TAG_VAR: "i-1 o-2"}


def test_a_checkout_tags_its_shell_with_its_own_the_runs_and_this_processs_tokens(tmp_path):
    a = LocalCheckout(tmp_path / "a" / "repo", "base", "subprocess", run_token="r-1")
    b = LocalCheckout(tmp_path / "b" / "repo", "base", "subprocess", run_token="r-1")
    assert a.token != b.token
    assert a.shell_env[TAG_VAR].split()[-3:] == [a.token, "r-1", limits.owner_token()]


# ---------------------------------------------------------------- the scan and the kill


def test_the_scan_reads_a_processs_tag_and_its_family(kill_after):
    token = new_token("i")
    proc, pids = start("sleep 30 & echo $!; echo ok; wait", token)
    kill_after.extend([proc.pid, *pids])
    # a child caught between its fork and the end of its exec shows an empty /proc/<pid>/environ for that instant
    # (seen on a loaded machine); the scan's family rule covers it in the engine, and here it is read again
    deadline = time.monotonic() + 5
    while token not in (snapshot := processes())[pids[0]].tags and time.monotonic() < deadline:
        time.sleep(0.05)
    assert token in snapshot[proc.pid].tags and token in snapshot[pids[0]].tags
    assert snapshot[pids[0]].ppid == proc.pid
    assert {p.pid for p in find([token])} == {proc.pid, pids[0]}
    assert find([new_token("i")]) == []
    end_processes([token])
    proc.wait()


def test_ending_a_token_kills_what_went_elsewhere_left_its_session_or_shed_the_tag(tmp_path, kill_after):
    token = new_token("i")
    # a plain background job; one in another folder, double-forked into a session of its own; one that dropped the
    # variable (env -i), found as its tagged parent's child
    script = textwrap.dedent("""\
        sleep 300 & echo $!
        cd /tmp && setsid sh -c 'sleep 301 & echo $!' </dev/null
        sh -c 'env -i sleep 302 & echo $!; wait' </dev/null &
        sleep 0.2
        echo ok
        wait
    """)
    proc, pids = start(script, token, cwd=tmp_path)
    kill_after.extend([proc.pid, *pids])
    assert len(pids) == 3 and all(alive(p) for p in pids)
    other, other_pids = start("sleep 303 & echo $!; echo ok", new_token("i"))
    kill_after.extend(other_pids)

    started = time.monotonic()
    killed = end_processes([token])
    assert time.monotonic() - started < 1.0
    proc.wait()
    assert wait_gone(pids) == []
    assert any("sleep 300" in k for k in killed) and any("sleep 301" in k for k in killed)
    assert any("sleep 302" in k for k in killed)
    assert all(k.startswith("pid ") for k in killed)
    assert alive(other_pids[0])  # another issue's process is not touched
    assert end_processes([token]) == []  # nothing left: the next call finds nothing


def test_processes_working_in_the_folder_are_ended_too_tagged_or_not(tmp_path, kill_after):
    (tmp_path / "sub").mkdir()
    proc, pids = start("sleep 300 & echo $!; echo ok", cwd=tmp_path / "sub")
    kill_after.extend(pids)
    killed = end_processes([], under=tmp_path)
    proc.wait()
    assert wait_gone(pids) == [] and any("sleep 300" in k for k in killed)


def test_spared_tokens_and_this_process_are_never_killed(kill_after):
    run, mine = new_token("r"), new_token("o")
    ours = subprocess.Popen(["sleep", "300"], env={**os.environ, **tag_env(run, mine)})
    theirs = subprocess.Popen(["sleep", "300"], env={**os.environ, **tag_env(run, new_token("o"))})
    kill_after.extend([ours.pid, theirs.pid])
    killed = end_processes([run], spare=[mine])
    assert [k.split(":")[0] for k in killed] == [f"pid {theirs.pid}"]
    theirs.wait()
    assert alive(ours.pid)
    assert os.getpid() not in {p.pid for p in find([], under=Path.cwd())}  # this process works there, spared
    ours.kill()
    ours.wait()


def test_a_signal_goes_only_to_the_process_that_was_seen(kill_after):
    proc = subprocess.Popen(["sleep", "300"], env={**os.environ, **tag_env(token := new_token("i"))})
    kill_after.append(proc.pid)
    seen = find([token])[0]
    assert not send(limits.Proc(seen.pid, seen.ppid, seen.sid, seen.tpgid, seen.state, seen.start + 1, seen.tags,
                                seen.cwd), signal.SIGKILL)  # a pid reused by another process
    assert alive(proc.pid)
    assert send(seen, signal.SIGKILL)
    assert proc.wait(timeout=5) == -signal.SIGKILL


# ---------------------------------------------------------------- the checkout


def test_closing_a_checkout_ends_its_processes_and_reports_them(tmp_path, kill_after):
    repo = tmp_path / "issue" / "repo"
    repo.mkdir(parents=True)
    checkout = LocalCheckout(repo, "base", "subprocess")
    env = {**os.environ, **checkout.shell_env}
    shell = subprocess.Popen(["sh", "-c", "cd /tmp && sleep 300 & echo $!"], stdout=subprocess.PIPE, text=True,
                             env=env, cwd=repo)
    bg = int(shell.stdout.readline())
    kill_after.append(bg)
    shell.wait()
    assert alive(bg)
    leftovers = checkout.close()
    assert wait_gone([bg]) == []
    assert leftovers == checkout.leftovers and [k.split(":")[0] for k in leftovers] == [f"pid {bg}"]
    assert "sleep 300" in leftovers[0]
    assert not (tmp_path / "issue").exists()
    assert checkout.close() == []  # idempotent


def test_a_process_one_scan_missed_is_still_ended(monkeypatch, kill_after):
    """A process in the middle of an exec shows an empty environment for a moment (a background `cd /tmp && sleep
    300 &` did, about 1 in 25 times right after its start): one scan can miss its tag. Ending them takes two empty
    scans in a row, so the next one finds it. Here the first scan is made to miss it."""
    token = new_token("i")
    proc, (bg,) = start("sleep 300 & echo $!; echo ok", token)
    kill_after.append(bg)
    proc.wait()
    scans = []

    def first_misses(*args, **kwargs):
        scans.append(1)
        return [] if len(scans) == 1 else find(*args, **kwargs)

    monkeypatch.setattr(limits, "find", first_misses)
    killed = end_processes([token])
    assert wait_gone([bg]) == []
    assert [k.split(":")[0] for k in killed] == [f"pid {bg}"]
    assert len(scans) == 4  # missed, found, then two empty scans in a row


# ---------------------------------------------------------------- awm-tui killed


CHILD = """
import os, subprocess, sys, time
sys.path.insert(0, {root!r})
from awm import processes as limits
env = {{**os.environ, **limits.tag_env(limits.owner_token(), limits.new_token("i"))}}
out = subprocess.run(["sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!"], env=env,
                     capture_output=True, text=True).stdout
print(out.strip(), flush=True)
time.sleep(300)
"""


def test_a_marked_background_process_dies_with_its_awm_tui_even_by_sigkill(kill_after):
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT))], stdout=subprocess.PIPE, text=True)
    bg = int(child.stdout.readline())
    kill_after.extend([child.pid, bg])
    assert alive(bg)
    child.kill()  # SIGKILL: no cleanup of its own runs
    child.wait()
    assert wait_gone([bg], within=5) == [], "the watchdog did not end the background process"


def test_the_watchdog_waits_while_its_process_lives(kill_after):
    token = new_token("o")
    watchdog = limits.start_watchdog(token)
    victim = subprocess.Popen(["sleep", "300"], env={**os.environ, **tag_env(token)})
    kill_after.extend([watchdog.pid, victim.pid])
    time.sleep(0.3)
    assert watchdog.poll() is None and alive(victim.pid)
    # this process holds the pipe's end: closing it is what this process's death does
    proc, write = next(pair for pair in limits._watchdogs if pair[0] is watchdog)
    limits._watchdogs.remove((proc, write))
    os.close(write)
    assert watchdog.wait(timeout=5) == 0
    assert victim.wait(timeout=5) == -signal.SIGKILL


def test_a_dead_watchdog_is_replaced_for_the_same_token():
    token = limits.owner_token()
    first = limits._owner[2]
    first.kill()
    first.wait()
    assert limits.owner_token() == token
    second = limits._owner[2]
    assert second is not first and second.poll() is None
    assert all(pair[0] is not first for pair in limits._watchdogs)


# ---------------------------------------------------------------- grading commands


def test_a_grading_command_ends_with_what_it_left_in_the_background(tmp_path):
    pidfile = tmp_path / "pids"
    started = time.monotonic()
    output, timed_out = run_tests(["bash", "-c", f"sleep 300 & echo $! > {pidfile}; echo done"], tmp_path, 30, {})
    assert (output, timed_out) == ("done\n", False)
    assert time.monotonic() - started < 2  # not waiting on the background job's hold on the pipe
    assert wait_gone([int(pidfile.read_text())]) == []


def test_a_grading_step_past_its_time_is_killed_with_what_left_its_group(tmp_path):
    pidfile = tmp_path / "pids"
    output, code = run_step(f"setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > {pidfile}; echo begun; sleep 30",
                            tmp_path, 0.5, {})
    assert code == -1 and output.startswith("begun") and "timed out after" in output
    assert wait_gone([int(pidfile.read_text())]) == []


def test_an_interrupted_grading_run_is_killed(tmp_path):
    pidfile = tmp_path / "pids"
    stop = threading.Event()

    def interrupt_once_running():  # Ctrl-C in the terminal, or the engine stopping: KeyboardInterrupt in the thread
        while not stop.wait(0.02):
            if pidfile.exists() and pidfile.read_text().strip():
                _thread.interrupt_main()
                return

    threading.Thread(target=interrupt_once_running, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_tests(["bash", "-c", f"echo $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}; sleep 300"], tmp_path,
                      60, {})
    finally:
        stop.set()
    assert wait_gone([int(pidfile.read_text())]) == []


GRADER = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from awm.grading.base import run_tests
run_tests(["bash", "-c", "echo $$ > {pidfile}; exec sleep 300"], Path({cwd!r}), 600, {{}})
"""


def test_a_grading_run_dies_with_its_awm_tui_even_by_sigkill(tmp_path, kill_after):
    pidfile = tmp_path / "pids"
    child = subprocess.Popen([sys.executable, "-c", GRADER.format(root=str(ROOT), pidfile=str(pidfile),
                                                                  cwd=str(tmp_path))])
    kill_after.append(child.pid)
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    tests = int(pidfile.read_text())
    kill_after.append(tests)
    assert alive(tests)
    child.kill()
    child.wait()
    assert wait_gone([tests], within=5) == []
