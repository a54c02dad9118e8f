"""A remote agent server that dies mid-issue (`agent.workspace: remote`, awm.agent.remote): real
`openhands.agent_server` processes on loopback ports started here, the real agent, the bundled scripted model (slowed
down so an issue is in flight when its server is killed), and the server's whole process group SIGKILLed by the pid
this test started (as if its machine went down).

- Two servers, one killed under an issue: the server is taken out of the run (a warning line says so), the issue is
  redone on the other server, no issue ends ERROR, the run completes.
- One server, killed under an issue: the run stops paused with exit status 2 and a message naming `agent.servers` and
  the resume command; nothing is recorded as ERROR; with a server started again on the same address, the resume
  finishes every issue, none ERROR.

Fast: the engine's side over stub parts and a real ServerPool (an issue redone on another server, a result kept
when its server died only after it, a server found dead at open, none left, too many losses under one issue), and
the warning (ev.Notice) as the headless printer and the app's run screen show it."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from test_remote_agent import KEY, KEY_ENV, start_agent_server, wait_healthy
from test_tui import drive, fake_app, fakes, home, run_screen, until  # noqa: F401

from awm.errors import UserError
from awm.run import events as ev

pytestmark = pytest.mark.filterwarnings("ignore:Cost calculation failed")


def spec_text(urls: list[str], limit: int, workers: int, latency: float) -> str:
    return f"""\
name: remote-dead-server
llm:
  model: scripted/demo
  scripted_latency_s: {latency}
dataset:
  name: builtin:minibench
  repo_filter: awm-bench/tallyho
  limit: {limit}
repos:
  awm-bench/tallyho: builtin:minibench
agent:
  max_iterations: 30
  timeout_minutes: 5
  workspace: remote
  servers: [{", ".join(urls)}]
  server_key_env: {KEY_ENV}
evaluation:
  backend: local
  timeout_minutes: 5
induction:
  trigger: 2
workers: {workers}
checkpoint_interval: 1
"""


def kill_group(server) -> None:
    """The server and everything it started, SIGKILLed (its own session: the pid this test started leads it)."""
    try:
        os.killpg(server.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.proc.wait(30)


def server_of(log: Path) -> str:
    found = re.findall(r"^# agent server (\S+)$", log.read_text(errors="replace"), re.M)
    return found[-1] if found else ""


def journal(run: Path) -> list[dict]:
    path = run / "experiences.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def expected_status(instance_id: str) -> str:
    from awm.demo.minibench.scripts import SCRIPTS

    return "PASS" if SCRIPTS[instance_id]["outcome"] == "right" else "FAIL"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Three agent servers, started at once (a start takes a minute on a busy machine): two for the first test, one
    for the second. Whatever is still running at the end (a restarted one too: `fleet.append`) is killed."""
    running = [start_agent_server(tmp_path_factory.mktemp(f"server-{n}")) for n in range(3)]
    os.environ[KEY_ENV] = KEY
    try:
        wait_healthy(running)
        yield running
    finally:
        os.environ.pop(KEY_ENV, None)
        for server in running:
            if server.proc.poll() is None:
                kill_group(server)


@pytest.mark.slow
@pytest.mark.timeout(600)  # three agent servers start first: minutes on a loaded machine
def test_a_server_killed_mid_issue_is_taken_out_and_the_issue_is_redone_on_the_other(fleet, awm_home, tmp_path):
    from awm.run.launch import prepare_engine
    from awm.spec import load_spec
    from awm_tui.commands.headless import HeadlessPrinter

    begun = time.monotonic()
    started = fleet[:2]
    by_url = {s.url: s for s in started}
    spec_file = tmp_path / "dead.yaml"
    spec_file.write_text(spec_text([s.url for s in started], limit=4, workers=2, latency=0.7))
    out = tmp_path / "run"
    events: list[ev.Event] = []
    printed = io.StringIO()
    printer = HeadlessPrinter(printed)
    killed: dict[str, str] = {}
    lock = threading.Lock()

    def subscriber(event: ev.Event) -> None:
        events.append(event)
        printer(event)
        if isinstance(event, ev.Notice):
            killed.setdefault("noticed_at", time.monotonic())
        if isinstance(event, ev.AgentEvent) and event.kind == "action":
            with lock:
                if killed:
                    return
                url = server_of(out / "logs" / f"instance_{event.instance_id}.log")
                killed.update(url=url, issue=event.instance_id)
            kill_group(by_url[url])  # mid-issue: the agent has acted once, its next model reply is on the way
            killed["at"] = time.monotonic()

    finished = prepare_engine(load_spec(spec_file), [subscriber], output_dir=str(out)).run()
    took = time.monotonic() - begun
    noticed = killed["noticed_at"] - killed["at"]
    print(f"killed {killed['url']} under {killed['issue']}, taken out {noticed:.1f} s later; the run took {took:.1f} s"
          f"\n{printed.getvalue()}")
    assert finished.outcome == "completed", finished.message
    assert noticed < 60  # found out by its health checks, not at the issue's time limit (5 minutes)
    survivor = next(s.url for s in started if s.url != killed["url"])
    experiences = journal(out)
    assert len(experiences) == 4 and len({e["instance_id"] for e in experiences}) == 4
    for e in experiences:  # no ERROR: the issue under the dead server was redone, and graded as usual
        assert e["status"] == expected_status(e["instance_id"]), (e["instance_id"], e["status"], e["reason"])
    notices = [e for e in events if isinstance(e, ev.Notice)]
    assert len(notices) == 1 and notices[0].instance_id == killed["issue"]
    assert killed["url"] in notices[0].text and "taken out of the run" in notices[0].text
    assert "1 of `agent.servers` left" in notices[0].text and "started again" in notices[0].text
    assert f"awm-tui: warning: the agent server {killed['url']} stopped answering" in printed.getvalue()
    log = (out / "logs" / f"instance_{killed['issue']}.log").read_text()
    assert server_of(out / "logs" / f"instance_{killed['issue']}.log") == survivor  # redone on the other server
    assert f"# the agent server {killed['url']} stopped answering" in log
    for e in experiences:  # the other issues ran on the survivor too: the dead server got nothing more
        assert server_of(out / "logs" / f"instance_{e['instance_id']}.log") == survivor
    assert finished.stats.errors == 0


@pytest.mark.slow
@pytest.mark.timeout(600)  # an agent server is started again in it: a minute or more on a loaded machine
def test_the_last_server_killed_mid_issue_pauses_the_run_and_a_resume_finishes_it(fleet, awm_home, tmp_path):
    from conftest import ROOT, cli

    from awm.run.launch import launch_spec, prepare_engine

    begun = time.monotonic()
    server = fleet[2]
    url = server.url
    spec_file = tmp_path / "dead-one.yaml"
    spec_file.write_text(spec_text([url], limit=2, workers=1, latency=0.7))
    out = tmp_path / "run"
    run = subprocess.Popen(cli("--no-ui", str(spec_file), "--output-dir", str(out)), cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        first = None
        while first is None and time.monotonic() < deadline and run.poll() is None:
            for log in (out / "logs").glob("instance_*.log") if (out / "logs").exists() else ():
                if server_of(log) == url and "] ACTION " in log.read_text(errors="replace"):
                    first = log
                    break
            time.sleep(0.1)
        assert first is not None, "no issue got under way"
        kill_group(server)  # the only server, mid-issue
        stdout, stderr = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    print(f"first run: {time.monotonic() - begun:.1f} s\n{stdout}\n{stderr}")
    assert run.returncode == 2, stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    assert "field `agent.servers`" in stderr and url in stderr and "stopped answering" in stderr
    assert f"awm-tui --no-ui --resume {out}" in stderr
    assert f"awm-tui: warning: the agent server {url} stopped answering" in stdout
    assert "none of `agent.servers` is left" in stdout and "will be redone on resume" in stdout
    assert json.loads((out / "checkpoint.json").read_text())["status"] == "paused"
    assert all(e["status"] != "ERROR" for e in journal(out))  # the issue under the dead server is not recorded
    assert first.stem.removeprefix("instance_") not in {e["instance_id"] for e in journal(out)}

    restarted = start_agent_server(server.log.parent, int(url.rsplit(":", 1)[1]))  # started again, same address
    fleet.append(restarted)
    wait_healthy([restarted])
    finished = prepare_engine(launch_spec(None, str(out)), [], resume=str(out)).run()  # `awm-tui --resume RUN`
    print(f"both runs: {time.monotonic() - begun:.1f} s; {finished.message}")
    assert finished.outcome == "completed", finished.message
    assert json.loads((out / "checkpoint.json").read_text())["status"] == "completed"
    experiences = journal(out)
    assert len(experiences) == 2 and len({e["instance_id"] for e in experiences}) == 2  # every issue done, once
    for e in experiences:
        assert e["status"] == expected_status(e["instance_id"]), (e["instance_id"], e["status"], e["reason"])


NOTICE = ("the agent server http://10.0.0.5:8000 stopped answering (ConnectError: [Errno 111] Connection refused) "
          "while tallyho__tallyho-101 was on it: taken out of the run, 1 of `agent.servers` left; "
          "tallyho__tallyho-101 is started again")


@pytest.mark.parametrize("quiet", [False, True])
def test_the_headless_printer_says_the_warning_even_when_quiet(quiet):
    from awm_tui.commands.headless import HeadlessPrinter

    out = io.StringIO()
    HeadlessPrinter(out, quiet=quiet)(ev.Notice(NOTICE, "tallyho__tallyho-101"))
    assert out.getvalue() == f"awm-tui: warning: {NOTICE}\n"


@pytest.mark.asyncio
async def test_the_app_shows_the_warning_in_the_log_and_as_a_notification(home, fakes):
    import fake_engine
    from textual.widgets import Log

    from awm_tui.messages import EngineEvent

    iid = fake_engine.IDS[0]
    factory = fakes(hold_at=[f"issue:{iid}"])
    app = fake_app(factory)
    said: list[str] = []
    notify = app.notify
    app.notify = lambda message, *a, **k: (said.append(str(message)), notify(message, *a, **k))[1]
    async with drive(app, size=(120, 40)) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached(f"issue:{iid}") and screen.model.current == iid)
        screen.post_message(EngineEvent(ev.Notice(NOTICE, iid)))
        await until(pilot, lambda: any(NOTICE in line for line in screen.query_one("#log", Log).lines),
                    what="the warning in the log")
        assert f"warning: {NOTICE}" in screen.query_one("#log", Log).lines
        assert said.count(NOTICE) == 1 and screen.model.current == iid  # the issue goes on
        factory.release()
        await until(pilot, lambda: screen.model.state == "completed")


# ------------------------------------------------------------------------------------------------ the engine, fast


class LostCheckout:
    """A checkout on a server of a real ServerPool, as RemoteCheckout hands it back: to `retire` once `lost`."""

    watch = True
    repo_path = "/work/app"
    terminal = "subprocess"
    shell_env: dict = {}

    def __init__(self, pool, server: str, instance_id: str):
        self.pool, self.server, self.instance_id = pool, server, instance_id
        self.lost = ""
        self.closed = False

    def conversation_workspace(self):
        return self.repo_path

    def interrupt(self, hard):
        pass

    def patch(self):
        return f"diff {self.instance_id}"

    def close(self):
        if not self.closed:
            self.closed = True
            if self.lost:
                self.pool.retire(self.server, self.lost)
            else:
                self.pool.release(self.server)
        return []


class PoolWorkspace:
    """`agent.workspace: remote` with stub checkouts: `dead_at_open` servers are found dead when opened on."""

    name = "remote"

    def __init__(self, servers: list[str], dead_at_open=()):
        from awm.agent.remote import ServerPool

        self.pool = ServerPool(servers)
        self.dead_at_open = set(dead_at_open)
        self.opened: list[tuple[str, str]] = []

    def open(self, issue):
        from awm.agent.remote import ServerLost

        server = self.pool.acquire()
        if server in self.dead_at_open:
            self.pool.retire(server, "ConnectError: refused")
            raise ServerLost(server, "ConnectError: refused")
        self.opened.append((issue.instance_id, server))
        return LostCheckout(self.pool, server, issue.instance_id)


class ServerKillingAgent:
    """Issue n's attempt number k (1-based) in `kills[n]` loses its server mid-run: the checkout turns `lost`, the
    agent waits for its cancel flag (as the real one's guard does) and ends cancelled, having spent $0.30. With
    `after` the server is lost once the agent has finished (the result is in)."""

    def __init__(self, kills: dict[int, set[int]] | None = None, after: set[int] = frozenset()):
        self.kills = kills or {}
        self.after = after
        self.attempts: dict[int, int] = {}

    def warm_up(self):
        pass

    def run(self, issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel=None):
        from awm.agent.runner import AgentResult, AgentStatus

        n = int(issue.instance_id.rsplit("-", 1)[1])
        self.attempts[n] = self.attempts.get(n, 0) + 1
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(f"# agent server {workspace.server}\n")
        on_event("action", "terminal", f"$ fix {n}")
        if self.attempts[n] in self.kills.get(n, ()):
            assert not cancel.is_set()
            workspace.lost = "ConnectError: [Errno 111] Connection refused"
            assert cancel.wait(5), "the lost server never reached the agent's cancel flag"
            return AgentResult(status=AgentStatus.CANCELLED, cost=0.3, prompt_tokens=30, completion_tokens=3)
        result = AgentResult(patch=workspace.patch(), status=AgentStatus.FINISHED, steps=3, cost=0.5,
                             prompt_tokens=100, completion_tokens=10)
        if n in self.after:
            workspace.lost = "ReadTimeout: timed out"
        return result


def pool_run(tmp_path, n: int, servers: list[str], agent, dead_at_open=()):
    from support.stubs import make_run

    run = make_run(tmp_path, n)
    run.workspace = PoolWorkspace(servers, dead_at_open)
    run.agent = agent
    return run


def test_an_issue_whose_server_dies_is_redone_on_another_and_nothing_ends_error(tmp_path):
    run = pool_run(tmp_path, 4, ["http://a", "http://b"], ServerKillingAgent({2: {1}}))
    result = run.engine().run()
    assert result.outcome == "completed"
    assert [(e["instance_id"], e["status"]) for e in run.journal()] == [(f"acme__app-{i}", "PASS") for i in range(1, 5)]
    assert run.agent.attempts == {1: 1, 2: 2, 3: 1, 4: 1}
    lost_on = next(server for iid, server in run.workspace.opened if iid == "acme__app-2")
    assert run.workspace.pool.servers == [s for s in ("http://a", "http://b") if s != lost_on]
    assert [iid for iid, server in run.workspace.opened].count("acme__app-2") == 2
    assert all(server != lost_on for iid, server in run.workspace.opened[run.workspace.opened.index(
        ("acme__app-2", lost_on)) + 1:])  # nothing more went to it
    notices = [e for e in run.events if isinstance(e, ev.Notice)]
    assert len(notices) == 1 and notices[0].instance_id == "acme__app-2" and lost_on in notices[0].text
    assert "1 of `agent.servers` left; acme__app-2 is started again" in notices[0].text
    log = run.store.log_path("acme__app-2").read_text()
    assert log.endswith(f"# {notices[0].text}\n")  # the redone attempt's log says what happened before it
    assert result.stats.errors == 0
    assert result.stats.discarded_cost == pytest.approx(0.3)  # what the lost attempt spent is counted


def test_a_result_in_before_its_server_died_is_kept_and_the_server_taken_out(tmp_path):
    run = pool_run(tmp_path, 3, ["http://a", "http://b"], ServerKillingAgent(after={1}))
    result = run.engine().run()
    assert result.outcome == "completed" and result.stats.errors == 0 and result.stats.passed == 3
    assert run.agent.attempts == {1: 1, 2: 1, 3: 1}
    notices = [e for e in run.events if isinstance(e, ev.Notice)]
    assert len(notices) == 1 and "acme__app-1's result was in before, and is kept" in notices[0].text
    assert len(run.workspace.pool.servers) == 1


def test_a_server_found_dead_at_open_is_skipped_for_the_next(tmp_path):
    run = pool_run(tmp_path, 2, ["http://a", "http://b"], ServerKillingAgent(), dead_at_open={"http://a"})
    result = run.engine().run()
    assert result.outcome == "completed" and result.stats.passed == 2
    assert {server for _, server in run.workspace.opened} == {"http://b"}
    notices = [e for e in run.events if isinstance(e, ev.Notice)]
    assert len(notices) == 1 and "http://a stopped answering" in notices[0].text


def test_with_no_server_left_the_run_stops_paused_with_exit_2_and_a_resume_finishes_it(tmp_path):
    run = pool_run(tmp_path, 3, ["http://a"], ServerKillingAgent({2: {1}}))
    with pytest.raises(UserError) as caught:
        run.engine().run()
    error = caught.value
    assert error.exit_code == 2 and error.field == "agent.servers" and "http://a (ConnectError" in error.text
    assert f"awm-tui --no-ui --resume {run.store.dir}" in error.text
    assert run.checkpoint()["status"] == "paused"
    assert run.checkpoint()["message"] == error.message  # why it stopped, for the picker
    assert [(e["instance_id"], e["status"]) for e in run.journal()] == [("acme__app-1", "PASS")]  # 2 not recorded
    notices = [e for e in run.events if isinstance(e, ev.Notice)]
    assert "none of `agent.servers` is left; acme__app-2 is not recorded, and will be redone on resume" in \
        notices[0].text
    run.workspace = PoolWorkspace(["http://a"])  # the server started again; the resume makes a new pool
    result = run.engine().run()
    assert result.outcome == "completed"
    assert [(e["instance_id"], e["status"]) for e in run.journal()] == [(f"acme__app-{i}", "PASS") for i in range(1, 4)]


def test_an_issue_that_loses_its_server_again_and_again_stops_the_run(tmp_path):
    servers = [f"http://s{i}" for i in range(5)]
    run = pool_run(tmp_path, 2, servers, ServerKillingAgent({1: {1, 2, 3}}))
    with pytest.raises(UserError) as caught:
        run.engine().run()
    assert "acme__app-1: its agent server stopped answering 3 times" in caught.value.text
    assert caught.value.field == "agent.servers" and run.agent.attempts[1] == 3
    assert not any(e["status"] == "ERROR" for e in run.journal())
    assert len(run.workspace.pool.servers) == 2 and run.checkpoint()["status"] == "paused"
