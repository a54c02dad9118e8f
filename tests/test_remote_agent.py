"""Agents on remote runtimes (`agent.workspace: remote` and `remote-api`, awm.agent.remote).

Fast, in-process: the server pool (one issue per server, waiting, order, close; a dead server taken out, none
left), a dead server told from a live one (its health checks, the checkout's watch, the hand-back, a server found
dead when an issue opens on it), the checks before issue 1 against small fake HTTP servers on 127.0.0.1, the move of
the repository (a bundle of the base commit alone, unbundled by the same shell commands the server runs), the
cleanup script, and the runtime API client against a fake runtime API.

Slow: two real `openhands.agent_server` processes on free loopback ports, with a session API key, and the bundled
scripted model: demo issues through the runner on both servers at once (each on its own server, patches equal to the
local workspace's), a whole headless run with `workers: 2` to verdicts, a wrong key and an unreachable server
refused, a stop and the time limit honoured, and the runtime-API path against a fake runtime API that hands out one
of the real servers. A server that dies mid-issue: tests/test_remote_dead_server.py."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from awm.agent import remote
from awm.agent.remote import RemoteError, RuntimeApi, ServerPool
from awm.errors import UserError
from awm.processes import TAG_VAR
from awm.repos import RepoCache, diff_against
from awm.spec import AgentSpec, LLMSpec

pytestmark = pytest.mark.filterwarnings("ignore:Cost calculation failed")

KEY = "awm-test-session-key-5f3c9e"
KEY_ENV = "AWM_TEST_AGENT_SERVER_KEY"
LINUX = Path("/proc/self/environ").exists()


# ------------------------------------------------------------------------------------------------ helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeHTTP:
    """A tiny HTTP server on 127.0.0.1: `handle(method, path, headers, body) -> (status, json)`; requests recorded."""

    def __init__(self, handle):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw and self.headers.get("Content-Type", "").startswith("application/json") \
                    else raw
                outer.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                       "body": body})
                status, data = handle(self.command, self.path, self.headers, body)
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def agent_server_like(key: str | None):
    """Answers as an agent server does: /health open, the API behind the session key."""

    def handle(method, path, headers, body):
        if path == "/health":
            return 200, {"status": "ok"}
        if path.startswith("/api/"):
            if key and headers.get(remote.KEY_HEADER) != key:
                return 401, {"detail": "Unauthorized"}
            return 200, 0
        return 404, {"detail": "Not Found"}

    return handle


def spec_ns(agent: AgentSpec, llm: LLMSpec | None = None):
    llm = llm or LLMSpec(model="scripted/demo", base_url="http://127.0.0.1:9/v1")
    return types.SimpleNamespace(agent=agent, llm=llm)


def socket_threads() -> list[str]:
    """The remote conversations' websocket threads still running (the SDK's WebSocketCallbackClient._run)."""
    return [t.name for t in threading.enumerate() if t.name.endswith("(_run)")]


def tagged_pids(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(TAG_VAR.encode() + b"=") and token.encode() in item.split(b"=", 1)[1].split():
                found.append(int(entry.name))
    return found


# ------------------------------------------------------------------------------------------------ the pool


def queued(pool: ServerPool, n: int, within: float = 30.0) -> None:
    """Waits until `n` threads wait in `pool`: a thread started is not yet in line (on a loaded machine, not for a
    while), so the tests wait for it to be rather than sleep a guess."""
    deadline = time.monotonic() + within
    while len(pool._waiting) != n:
        assert time.monotonic() < deadline, f"{len(pool._waiting)} threads wait in the pool, not {n}"
        time.sleep(0.005)


def settled(done, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {done}"
        time.sleep(0.005)


def test_the_pool_hands_each_server_to_one_issue_and_waits_while_all_are_busy():
    pool = ServerPool(["http://a:1/", "http://b:2", "http://a:1"])
    assert pool.servers == ["http://a:1", "http://b:2"]  # normalised, once each
    first, second = pool.acquire(), pool.acquire()
    assert {first, second} == {"http://a:1", "http://b:2"} and sorted(pool.busy) == sorted([first, second])
    with pytest.raises(TimeoutError):
        pool.acquire(timeout=0.3)
    got: list[str] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire()))
    waiter.start()
    queued(pool, 1)
    assert got == []  # still waiting
    pool.release(second)
    waiter.join(30)
    assert got == [second]  # the one just freed
    with pytest.raises(ValueError):
        pool.release("http://elsewhere:3")
    pool.release(first)
    with pytest.raises(ValueError):
        pool.release(first)  # not handed out any more


def test_the_pool_serves_waiters_in_the_order_they_asked_and_hands_out_the_server_idle_longest():
    pool = ServerPool(["http://a", "http://b"])
    a, b = pool.acquire(), pool.acquire()
    order: list[tuple[int, str]] = []
    threads = []
    for n in range(3):
        t = threading.Thread(target=lambda n=n: order.append((n, pool.acquire())))
        t.start()
        threads.append(t)
        queued(pool, n + 1)  # asked in this order
    pool.release(b)
    settled(lambda: len(order) == 1)
    pool.release(a)
    settled(lambda: len(order) == 2)
    queued(pool, 1)  # the third still waits
    assert order == [(0, b), (1, a)]
    pool.release(b)
    threads[2].join(30)
    assert order[-1] == (2, b)


def test_a_closed_pool_wakes_its_waiters_and_a_cancel_ends_a_wait():
    pool = ServerPool(["http://a"])
    pool.acquire()
    with pytest.raises(RemoteError, match="stopped"):
        pool.acquire(cancelled=lambda: True)
    errors: list[BaseException] = []

    def wait():
        try:
            pool.acquire()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=wait)
    t.start()
    queued(pool, 1)
    pool.close()
    t.join(30)
    assert len(errors) == 1 and isinstance(errors[0], remote.PoolClosed)


def test_under_contention_no_server_ever_has_two_issues():
    pool = ServerPool([f"http://s{n}" for n in range(3)])
    holders: dict[str, int] = {s: 0 for s in pool.servers}
    worst = {"n": 0}
    lock = threading.Lock()

    def work():
        for _ in range(20):
            server = pool.acquire(timeout=30)
            with lock:
                holders[server] += 1
                worst["n"] = max(worst["n"], holders[server])
            time.sleep(0.002)
            with lock:
                holders[server] -= 1
            pool.release(server)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert worst["n"] == 1 and len(pool.handed) == 160 and set(pool.handed) == set(pool.servers)
    assert pool.busy == []


def test_a_server_taken_out_leaves_the_pool_and_once_none_is_left_acquire_says_so():
    pool = ServerPool(["http://a", "http://b"])
    a = pool.acquire()
    pool.retire(a, "ConnectError: [Errno 111] Connection refused")
    assert pool.servers == ["http://b"] and pool.busy == [] and list(pool.lost) == [a]
    with pytest.raises(ValueError):
        pool.release(a)  # not the pool's any more
    b = pool.acquire()
    assert b == "http://b"
    got: list[BaseException] = []

    def wait():
        try:
            pool.acquire()
        except BaseException as exc:  # noqa: BLE001
            got.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    queued(pool, 1)
    assert got == []  # waits for b ...
    pool.retire(b, "ReadTimeout: timed out")
    waiter.join(30)
    assert len(got) == 1 and isinstance(got[0], remote.NoServerLeft)  # ... which is gone too: none is left
    assert got[0].lost == {a: "ConnectError: [Errno 111] Connection refused", b: "ReadTimeout: timed out"}
    assert a in str(got[0]) and b in str(got[0])
    with pytest.raises(remote.NoServerLeft):
        pool.acquire(timeout=1)


def test_a_server_counts_as_dead_only_when_its_health_check_fails_again_and_again():
    answers = {"status": 200}
    fake = FakeHTTP(lambda *a: (answers["status"], {"status": "ok"}))
    try:
        assert remote.probe(fake.url) == "" and remote.dead(fake.url, tries=2, pause=0.05) == ""
        answers["status"] = 503
        assert remote.dead(fake.url, tries=2, pause=0.05) == "/health answered HTTP 503"
    finally:
        fake.close()
    gone = f"http://127.0.0.1:{free_port()}"
    assert "ConnectError" in remote.dead(gone, tries=2, pause=0.05)


class FakeServerWorkspace:
    """What RemoteCheckout asks of the SDK's RemoteWorkspace, answered here (commands recorded) as long as `host`
    answers /health; once it does not, every request fails as the SDK's would (httpx.ConnectError)."""

    def __init__(self, commands: list[str], host: str = "", head: str = ""):
        self.commands, self.host, self.head = commands, host, head

    def _reach(self):
        import httpx

        if self.host and remote.probe(self.host, timeout=2):
            raise httpx.ConnectError("[Errno 111] Connection refused")

    def execute_command(self, command, timeout=None):
        self._reach()
        self.commands.append(command)
        if command.startswith("mktemp"):
            return types.SimpleNamespace(exit_code=0, stdout="/tmp/awm-remote-x\n", stderr="")
        return types.SimpleNamespace(exit_code=0, stdout=f"{self.head}\n" if "unbundle" in command else "", stderr="")

    def file_upload(self, data, path):
        self._reach()
        return types.SimpleNamespace(success=True, error=None)


def test_a_watched_checkout_whose_server_stops_answering_is_lost_and_handed_to_on_lost(monkeypatch):
    monkeypatch.setattr(remote, "HEALTH_EVERY_S", 0.05)
    health = FakeHTTP(lambda *a: (200, {"status": "ok"}))
    commands: list[str] = []
    handed: list[tuple[str, str]] = []
    checkout = remote.RemoteCheckout(health.url, None, "0" * 40, watch=True,
                                     on_close=lambda: handed.append(("released", "")),
                                     on_lost=lambda why: handed.append(("lost", why)),
                                     workspace_factory=lambda **kw: FakeServerWorkspace(commands))
    checkout.folder = "/tmp/awm-remote-x"
    try:
        checkout.conversation_workspace()  # the agent starts: the server is watched
        time.sleep(0.4)
        assert checkout.lost == ""  # it answers
    finally:
        health.close()  # ... and now it does not
    deadline = time.monotonic() + 10
    while not checkout.lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "ConnectError" in checkout.lost
    sent = len(commands)
    checkout.interrupt(True)
    with pytest.raises(RemoteError, match="stopped answering"):
        checkout.patch()
    assert checkout.close() == [] and len(commands) == sent  # a dead server is sent nothing more
    assert handed == [("lost", checkout.lost)]  # out of the pool, not back in it
    # a server that answers: released at close, after one health check
    health = FakeHTTP(lambda *a: (200, {"status": "ok"}))
    try:
        checkout = remote.RemoteCheckout(health.url, None, "0" * 40, watch=True,
                                         on_close=lambda: handed.append(("released", "")),
                                         on_lost=lambda why: handed.append(("lost", why)),
                                         workspace_factory=lambda **kw: FakeServerWorkspace(commands))
        checkout.folder = "/tmp/awm-remote-y"
        checkout.close()
    finally:
        health.close()
    assert checkout.lost == "" and handed[-1] == ("released", "")
    assert any("rm -rf /tmp/awm-remote-y" in c for c in commands)


def test_a_server_found_dead_when_an_issue_opens_on_it_is_taken_out_and_the_next_open_gets_another(monkeypatch,
                                                                                                     tmp_path):
    from awm.records import Issue

    commit = "c" * 40
    monkeypatch.setattr(remote, "make_bundle", lambda cache, issue, scratch: (b"bundle", commit))
    monkeypatch.setattr(remote, "dead", functools.partial(remote.dead, pause=0.05))  # as many checks, not 1 s apart
    live = FakeHTTP(lambda *a: (200, {"status": "ok"}))
    gone = f"http://127.0.0.1:{free_port()}"
    commands: list[str] = []
    agent = AgentSpec(workspace="remote", servers=[gone, live.url])
    workspace = remote.RemoteServersWorkspace(
        spec_ns(agent), RepoCache(Path("/nonexistent")), tmp_path, check=False,
        workspace_factory=lambda host, api_key, working_dir: FakeServerWorkspace(commands, host, commit))
    issue = Issue(instance_id="awm-x", repo="awm/x", base_commit=commit, problem_statement="p")
    try:
        with pytest.raises(remote.ServerLost) as caught:
            workspace.open(issue)  # the first server handed out is the dead one
        assert caught.value.server == gone and "ConnectError" in caught.value.reason
        assert workspace.pool.servers == [live.url] and list(workspace.pool.lost) == [gone]
        checkout = workspace.open(issue)  # opened again: on the other
        assert checkout.server == live.url and checkout.lost == ""
        assert checkout.close() == [] and workspace.pool.busy == []
    finally:
        live.close()  # now the last one stops answering too
    with pytest.raises(remote.ServerLost):
        workspace.open(issue)
    with pytest.raises(remote.NoServerLeft) as caught:
        workspace.open(issue)
    assert set(caught.value.lost) == {gone, live.url}


# ------------------------------------------------------------------------------------------------ checks


def test_an_unreachable_server_is_refused_naming_agent_servers():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UserError) as caught:
        remote.check_servers([url], KEY, KEY_ENV)
    assert caught.value.field == "agent.servers" and url in caught.value.text and "not reachable" in caught.value.text
    with pytest.raises(UserError) as caught:
        remote.check_servers(["10.0.0.5:8000"], KEY, KEY_ENV)
    assert caught.value.field == "agent.servers" and "http://HOST:PORT" in caught.value.text


def test_a_wrong_or_missing_key_is_refused_naming_agent_server_key_env(monkeypatch):
    fake = FakeHTTP(agent_server_like(KEY))
    try:
        remote.check_servers([fake.url], KEY, KEY_ENV)  # the right key: fine
        assert fake.requests[-1]["headers"].get(remote.KEY_HEADER) == KEY
        with pytest.raises(UserError) as caught:
            remote.check_servers([fake.url], "not-the-key", KEY_ENV)
        assert caught.value.field == "agent.server_key_env"
        assert KEY_ENV in caught.value.text and "refused the key" in caught.value.text
        assert "not-the-key" not in caught.value.text
        with pytest.raises(UserError) as caught:
            remote.check_servers([fake.url], None, None)
        assert caught.value.field == "agent.server_key_env" and "requires a session API key" in caught.value.text
        # the whole check a run makes (launch's preflight may call it): the key from its variable
        monkeypatch.setenv(KEY_ENV, KEY)
        agent = AgentSpec(workspace="remote", servers=[fake.url + "/"], server_key_env=KEY_ENV)
        assert remote.check_available(spec_ns(agent, LLMSpec(model="scripted/demo"))) == KEY
        monkeypatch.setenv(KEY_ENV, "wrong-key-123")
        with pytest.raises(UserError) as caught:
            remote.check_available(spec_ns(agent, LLMSpec(model="scripted/demo")))
        assert caught.value.field == "agent.server_key_env"
    finally:
        fake.close()
    monkeypatch.delenv(KEY_ENV, raising=False)
    agent = AgentSpec(workspace="remote", servers=["http://127.0.0.1:1"], server_key_env=KEY_ENV)
    with pytest.raises(UserError) as caught:
        remote.RemoteServersWorkspace(spec_ns(agent), RepoCache(Path("/nonexistent")), Path("/tmp"))
    assert caught.value.field == "agent.server_key_env" and "not set" in caught.value.text


def test_something_that_is_not_an_agent_server_is_refused():
    fake = FakeHTTP(lambda *a: (404, {"detail": "Not Found"}))
    try:
        with pytest.raises(UserError) as caught:
            remote.check_servers([fake.url], None, None)
        assert caught.value.field == "agent.servers" and "not an OpenHands agent server" in caught.value.text
    finally:
        fake.close()


def test_a_model_on_this_machines_loopback_is_out_of_reach_of_a_server_elsewhere():
    remote.check_model_reach("http://127.0.0.1:8000/v1", ["http://127.0.0.1:9000"], "remote")
    remote.check_model_reach("https://api.openai.com/v1", ["http://10.0.0.5:8000"], "remote")
    with pytest.raises(UserError) as caught:
        remote.check_model_reach("http://127.0.0.1:8000/v1", ["http://127.0.0.1:9000", "http://10.0.0.5:8000"],
                                 "remote")
    assert caught.value.field == "llm.base_url" and "10.0.0.5" in caught.value.text


# ------------------------------------------------------------------------------------------------ the repository


@pytest.fixture(scope="module")
def tallyho(tmp_path_factory):
    """The demo repository's cache, and two of its instances (the base commit precedes the fixes)."""
    from awm.demo.minibench import load_instances
    from awm.records import Issue

    issues = [Issue.from_row(row) for row in load_instances()]
    cache = RepoCache(tmp_path_factory.mktemp("cache"), {issues[0].repo: "builtin:minibench"})
    cache.mirror(issues[0].repo)
    return cache, issues


def test_the_bundle_holds_the_base_commit_alone_and_unbundles_to_a_checkout_like_the_local_one(tallyho, tmp_path):
    cache, issues = tallyho
    issue = issues[5]
    bundle, commit = remote.make_bundle(cache, issue, tmp_path / "scratch")
    assert commit == issue.base_commit and not list((tmp_path / "scratch").iterdir())  # nothing left behind
    folder = tmp_path / "server"
    folder.mkdir()
    (folder / "base.bundle").write_bytes(bundle)
    out = subprocess.run(["sh", "-c", remote.unbundle_script(str(folder), "tallyho", commit)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == commit and not (folder / "base.bundle").exists()
    repo = folder / "tallyho"

    def git(*args):
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)

    assert git("rev-list", "--all").stdout.split() == [commit]  # one commit: no parents, no later history
    assert git("for-each-ref").stdout == "" and git("remote").stdout == ""
    assert not (repo / ".git" / "FETCH_HEAD").exists()
    assert not (repo / ".git" / "objects" / "info" / "alternates").exists()
    mirror = cache.mirror(issue.repo)
    later = subprocess.run(["git", "rev-list", "--all"], cwd=mirror, capture_output=True, text=True).stdout.split()
    assert len(later) > 1
    assert all(git("cat-file", "-e", c).returncode != 0 for c in later if c != commit)  # the future is not there
    local = tmp_path / "local" / "tallyho"
    cache.checkout(issue.repo, commit, local, isolated=True)
    assert git("ls-files").stdout == subprocess.run(["git", "ls-files"], cwd=local, capture_output=True,
                                                     text=True).stdout
    for tree in (repo, local):  # the same edit gives the same patch, taken by either side's commands
        (tree / "NEW.txt").write_text("new\n")
        (tree / "README.md").write_text("changed\n")
        (tree / "tallyho" / "__pycache__").mkdir(exist_ok=True)
        (tree / "tallyho" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    out = subprocess.run(["sh", "-c", remote.diff_script(str(repo), commit, str(folder / "p.diff"))],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    patch = (folder / "p.diff").read_text()
    assert patch == diff_against(local, commit) and "NEW.txt" in patch and ".pyc" not in patch


@pytest.mark.skipif(not LINUX, reason="needs Linux /proc")
def test_the_cleanup_script_kills_what_carries_the_tag_or_works_in_the_checkout_and_nothing_else(tmp_path):
    token = "i-0123456789ab"
    folder = tmp_path / "checkout"
    folder.mkdir()
    tagged = subprocess.Popen(["sh", "-c", "setsid sleep 301 & sleep 300"], start_new_session=True,
                              env={**os.environ, TAG_VAR: f"r-run {token}"})
    inside = subprocess.Popen(["sleep", "302"], cwd=folder)
    other = subprocess.Popen(["sleep", "303"], env={**os.environ, TAG_VAR: token + "0"})  # not the same token
    try:
        time.sleep(0.3)
        out = subprocess.run(["sh", "-c", remote.reap_script(token, str(folder), True)], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0 and out.stderr == ""
        killed = out.stdout.splitlines()
        assert any("sleep 300" in k for k in killed) and any("sleep 301" in k for k in killed)
        assert any("sleep 302" in k for k in killed) and not any("sleep 303" in k for k in killed)
        assert all(re.match(r"pid \d+: ", k) for k in killed)
        assert tagged.wait(5) == -9 and inside.wait(5) == -9 and other.poll() is None
        assert tagged_pids(token) == []
    finally:
        for p in (tagged, inside, other):
            p.kill()
            p.wait()


@pytest.mark.skipif(not LINUX, reason="needs Linux /proc")
@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_soft_cleanup_is_a_ctrl_c_to_the_running_command_and_the_shell_survives(shell, tmp_path):
    token = "i-ba9876543210"
    pid, fd = pty.fork()
    if pid == 0:  # the agent's shell, on a terminal of its own
        os.execvpe(shell, [shell], {**os.environ, TAG_VAR: token, "PS1": "$ "})
    def read_until(needle: bytes, within: float) -> bytes:
        seen, deadline = b"", time.monotonic() + within
        while needle not in seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                seen += os.read(fd, 1024)
        return seen

    def sleeping() -> bool:
        for pid in tagged_pids(token):
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"100"]:
                    return True
            except OSError:
                pass
        return False

    try:
        os.write(fd, b"sleep 100\n")
        deadline = time.monotonic() + 30
        while not sleeping() and time.monotonic() < deadline:  # the command runs (a loaded machine is slow)
            time.sleep(0.05)
        assert sleeping()
        out = subprocess.run(["sh", "-c", remote.reap_script(token, str(tmp_path / "none"), False)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0
        os.write(fd, b"echo alive-$?\n")
        assert b"alive-130" in read_until(b"alive-130", 10)  # the command was interrupted (128 + SIGINT) ...
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)  # ... and the shell went on
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


# ------------------------------------------------------------------------------------------------ the runtime API


class FakeRuntimeApi:
    """OpenHands' runtime API as APIRemoteWorkspace uses it: /start, /sessions/{id} (pending, then ready), /stop."""

    def __init__(self, key: str, server_url: str, server_key: str | None, pending_polls: int = 1,
                 fail: str = ""):
        self.key, self.server_url, self.server_key = key, server_url, server_key
        self.pending = pending_polls
        self.fail = fail
        self.sessions: dict[str, dict] = {}
        self.stopped: list[str] = []
        self.http = FakeHTTP(self.handle)
        self.url = self.http.url

    def handle(self, method, path, headers, body):
        if headers.get(remote.RUNTIME_KEY_HEADER) != self.key:
            return 401, {"detail": "bad key"}
        if method == "POST" and path == "/start":
            runtime_id = f"rt-{len(self.sessions) + 1}"
            self.sessions[body["session_id"]] = {"runtime_id": runtime_id, "polls": 0}
            return 201, {"runtime_id": runtime_id, "url": self.server_url, "session_api_key": self.server_key,
                         "status": "running"}
        if method == "GET" and path.startswith("/sessions/"):
            session = self.sessions.get(path.split("/")[-1])
            if session is None:
                return 404, {"detail": "not found"}
            session["polls"] += 1
            status = self.fail or ("pending" if session["polls"] <= self.pending else "ready")
            return 200, {"runtime_id": session["runtime_id"], "url": self.server_url, "pod_status": status,
                         "session_api_key": self.server_key}
        if method == "POST" and path == "/stop":
            self.stopped.append(body["runtime_id"])
            return 200, {"status": "stopped"}
        return 404, {"detail": "no such path"}

    def close(self):
        self.http.close()


def test_the_runtime_api_client_starts_waits_for_ready_and_stops_with_the_real_request_shape():
    health = FakeHTTP(lambda *a: (200, {"status": "ok"}))
    api = FakeRuntimeApi("rt-key-123456", health.url, "sess-key")
    try:
        client = RuntimeApi(api.url, "rt-key-123456", poll_s=0.05, startup_timeout=10)
        client.check()
        runtime = client.start("ghcr.io/openhands/agent-server:latest-python", "awm-x-1")
        assert (runtime.runtime_id, runtime.url, runtime.session_api_key) == ("rt-1", health.url, "sess-key")
        start = next(r for r in api.http.requests if r["path"] == "/start")
        assert start["body"]["image"] == "ghcr.io/openhands/agent-server:latest-python"
        assert start["body"]["session_id"] == "awm-x-1" and "--port 60000" in start["body"]["command"]
        assert {"working_dir", "environment", "run_as_user", "fs_group", "image_pull_policy"} <= set(start["body"])
        assert all(r["headers"].get(remote.RUNTIME_KEY_HEADER) == "rt-key-123456" for r in api.http.requests)
        assert [r["path"] for r in api.http.requests].count("/sessions/awm-x-1") == 2  # pending, then ready
        client.stop(runtime.runtime_id)
        assert api.stopped == ["rt-1"]
        with pytest.raises(UserError) as caught:
            RuntimeApi(api.url, "wrong").check()
        assert caught.value.field == "agent.runtime_api_key_env" and "wrong" not in caught.value.text
        with pytest.raises(UserError) as caught:
            RuntimeApi(f"http://127.0.0.1:{free_port()}", "k").check()
        assert caught.value.field == "agent.runtime_api_url"
        api.fail = "crashloopbackoff"
        with pytest.raises(RemoteError, match="failed to start"):
            client.start("img", "awm-x-2")
        assert api.stopped == ["rt-1", "rt-2"]  # a runtime that failed is stopped too
    finally:
        api.close()
        health.close()


def test_remote_api_needs_its_key_variable(monkeypatch):
    monkeypatch.delenv("AWM_TEST_RUNTIME_KEY", raising=False)
    for agent, needle in ((AgentSpec(workspace="remote-api"), "names no variable"),
                          (AgentSpec(workspace="remote-api", runtime_api_key_env="AWM_TEST_RUNTIME_KEY"), "not set")):
        with pytest.raises(UserError) as caught:
            remote.RuntimeApiWorkspace(spec_ns(agent), RepoCache(Path("/nonexistent")), Path("/tmp"))
        assert caught.value.field == "agent.runtime_api_key_env" and needle in caught.value.text


# ================================================================================ real agent servers (slow)


@dataclasses.dataclass
class AgentServer:
    url: str
    proc: subprocess.Popen
    log: Path

    def conversations_created(self) -> int:
        return self.log.read_text(errors="replace").count("Created new conversation")


def start_agent_server(folder: Path, port: int | None = None) -> AgentServer:
    """An agent server on 127.0.0.1 (`port`, or a free one), in a session of its own: killing its process group
    ends it and what its agents started, as if its machine went down."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if k != TAG_VAR}
    env.update(SESSION_API_KEY=KEY, OH_ENABLE_VSCODE="false", OPENHANDS_SUPPRESS_BANNER="1")
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "server.log"
    proc = subprocess.Popen([sys.executable, "-m", "openhands.agent_server", "--host", "127.0.0.1", "--port",
                             str(port)], cwd=folder, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    return AgentServer(f"http://127.0.0.1:{port}", proc, log)


def wait_healthy(servers: list[AgentServer], within: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + within
    pending = list(servers)
    while pending and time.monotonic() < deadline:
        for server in list(pending):
            assert server.proc.poll() is None, server.log.read_text()[-2000:]
            try:
                if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                    pending.remove(server)
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    assert not pending, "agent servers did not start"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    started = time.monotonic()
    running = [start_agent_server(tmp_path_factory.mktemp(f"agent-server-{n}")) for n in range(2)]
    os.environ[KEY_ENV] = KEY
    try:
        wait_healthy(running)
        print(f"two agent servers up in {time.monotonic() - started:.1f} s")
        yield running
    finally:
        os.environ.pop(KEY_ENV, None)
        for server in running:
            server.proc.terminate()
        for server in running:
            try:
                server.proc.wait(15)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()


@pytest.fixture(scope="module")
def model():
    from awm import demo
    from awm.agent.runner import AgentRunner

    server = demo.start_model_server(model="scripted/demo")
    AgentRunner(AgentSpec(), LLMSpec(model="scripted/demo", base_url=server.base_url)).warm_up()
    yield server
    server.stop()


def agent_spec(servers, **changes) -> AgentSpec:
    values = dict(workspace="remote", servers=[s.url for s in servers], server_key_env=KEY_ENV, max_iterations=30,
                  timeout_minutes=5)
    values.update(changes)
    return AgentSpec(**values)


def run_issue(issue, workspace, agent: AgentSpec, model, folder: Path, cancel=None, on_event=None):
    from awm.agent.runner import AgentRunner

    llm = LLMSpec(model="scripted/demo", base_url=model.base_url)
    events: list[tuple[str, str, str]] = []

    def seen(*event):
        events.append(event[:3])  # kind, tool, text (the progress so far is the 4th)
        if on_event:
            on_event(*event[:3])

    result = AgentRunner(agent, llm).run(issue, workspace, "", seen, folder / f"{issue.instance_id}.log",
                                         folder / f"{issue.instance_id}.json", cancel)
    return result, events


@pytest.fixture(scope="module")
def local_patches(tallyho, model, tmp_path_factory):
    """What the local workspace gives on the first two demo instances, with the same scripted model."""
    from awm.agent.workspace import LocalWorkspace

    cache, issues = tallyho
    folder = tmp_path_factory.mktemp("local")
    workspace = LocalWorkspace(cache, folder / "work")
    patches = {}
    for issue in issues[:2]:
        checkout = workspace.open(issue)
        try:
            result, _ = run_issue(issue, checkout, AgentSpec(max_iterations=30, timeout_minutes=5), model, folder)
        finally:
            checkout.close()
        assert result.status == "finished", result.error
        patches[issue.instance_id] = result.patch
    return patches


@pytest.mark.slow
def test_two_issues_at_once_run_on_two_servers_and_give_the_local_patches(servers, model, tallyho, local_patches,
                                                                           tmp_path):
    cache, issues = tallyho
    llm = LLMSpec(model="scripted/demo", base_url=model.base_url)
    workspace = remote.RemoteServersWorkspace(spec_ns(agent_spec(servers), llm), cache, tmp_path / "work")
    before = [s.conversations_created() for s in servers]
    results: dict[str, tuple] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(issue):
        try:
            barrier.wait(30)
            checkout = workspace.open(issue)
            try:
                assert workspace.pool.busy  # held while the agent works
                result, events = run_issue(issue, checkout, agent_spec(servers), model, tmp_path)
            finally:
                leftovers = checkout.close()
            results[issue.instance_id] = (checkout, result, events, leftovers)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(issue,)) for issue in issues[:2]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    print(f"two issues on two servers in {time.monotonic() - started:.1f} s")
    assert not errors, errors
    assert {r[0].server for r in results.values()} == {s.url for s in servers}  # each on its own server
    assert [s.conversations_created() - b for s, b in zip(servers, before)] == [1, 1]
    for iid, (checkout, result, events, leftovers) in results.items():
        assert result.status == "finished", result.error
        assert result.patch == local_patches[iid] and result.patch.startswith("diff --git")
        kinds = [e[0] for e in events]
        assert "action" in kinds and "observation" in kinds  # streamed into the same callback as locally
        assert leftovers == [] and checkout.closed
        assert checkout.repo_path.startswith("/") and not Path(checkout.folder).exists()  # removed on the server
        log = (tmp_path / f"{iid}.log").read_text()
        assert f"# agent server {checkout.server}" in log
    assert workspace.pool.busy == []
    deadline = time.monotonic() + 5
    while socket_threads() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert socket_threads() == []  # the conversations' websocket threads ended with them
    for path in tmp_path.rglob("*"):  # the servers' key is in no file awm-tui wrote
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def remote_spec_text(servers, limit: int, workers: int) -> str:
    return f"""\
name: remote-demo
llm:
  model: scripted/demo
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
  servers: [{", ".join(s.url for s in servers)}]
  server_key_env: {KEY_ENV}
evaluation:
  backend: local
  timeout_minutes: 5
induction:
  trigger: 2
workers: {workers}
checkpoint_interval: 1
"""


@pytest.mark.slow
def test_a_headless_run_with_two_workers_on_the_servers_reaches_verdicts(servers, awm_home, tmp_path):
    from awm.demo.minibench.scripts import SCRIPTS
    from awm.run.launch import prepare_engine
    from awm.spec import load_spec

    spec_file = tmp_path / "remote-demo.yaml"
    spec_file.write_text(remote_spec_text(servers, limit=4, workers=2))
    out = tmp_path / "run"
    before = [s.conversations_created() for s in servers]
    started = time.monotonic()
    finished = prepare_engine(load_spec(spec_file), [], output_dir=str(out)).run()
    print(f"headless run of 4 issues, workers 2, on two servers: {time.monotonic() - started:.1f} s")
    assert finished.outcome == "completed"
    experiences = [json.loads(line) for line in (out / "experiences.jsonl").read_text().splitlines() if line.strip()]
    assert len(experiences) == 4
    for exp in experiences:
        expected = "PASS" if SCRIPTS[exp["instance_id"]]["outcome"] == "right" else "FAIL"
        assert exp["status"] == expected, (exp["instance_id"], exp["reason"])
    used = [re.search(r"# agent server (\S+)", (out / "logs" / f"instance_{e['instance_id']}.log").read_text())
            .group(1) for e in experiences]
    assert set(used) == {s.url for s in servers}  # both servers worked ...
    created = [s.conversations_created() - b for s, b in zip(servers, before)]
    assert created == [used.count(s.url) for s in servers] and sum(created) == 4  # ... as the servers say
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_a_wrong_key_or_an_unreachable_server_is_refused_before_the_first_issue(servers, model, tallyho, awm_home,
                                                                                tmp_path, monkeypatch):
    cache, _ = tallyho
    llm = LLMSpec(model="scripted/demo", base_url=model.base_url)
    monkeypatch.setenv(KEY_ENV, "not-the-servers-key")
    with pytest.raises(UserError) as caught:
        remote.RemoteServersWorkspace(spec_ns(agent_spec(servers), llm), cache, tmp_path)
    error = caught.value
    assert error.field == "agent.server_key_env" and KEY_ENV in error.text and servers[0].url in error.text
    assert "not-the-servers-key" not in error.message and "\n" not in error.message
    # the same through the engine: refused before the first issue, one paragraph naming the spec file and field
    from awm.run.launch import prepare_engine
    from awm.spec import load_spec

    spec_file = tmp_path / "wrong-key.yaml"
    spec_file.write_text(remote_spec_text(servers, limit=1, workers=1))
    with pytest.raises(UserError) as caught:
        prepare_engine(load_spec(spec_file), [], output_dir=str(tmp_path / "run")).run()
    assert caught.value.message.startswith(f"{spec_file}, field `agent.server_key_env`: ")
    journal = tmp_path / "run" / "experiences.jsonl"
    assert not journal.exists() or not journal.read_text()  # no issue was started
    monkeypatch.setenv(KEY_ENV, KEY)
    dead = f"http://127.0.0.1:{free_port()}"
    agent = dataclasses.replace(agent_spec(servers), servers=[servers[0].url, dead])
    with pytest.raises(UserError) as caught:
        remote.RemoteServersWorkspace(spec_ns(agent, llm), cache, tmp_path)
    assert caught.value.field == "agent.servers" and dead in caught.value.text


STOP_SCRIPT = {
    "match": "REMOTE-STOP-PLEASE",
    "outcome": "wrong", "category": "x",
    "steps": [
        {"tool": "terminal", "args": {"command": "sleep 300 & echo started"}},  # left running in the background
        {"tool": "terminal", "args": {"command": "sleep 120"}},  # what the stop or the limit interrupts
        {"tool": "finish", "args": {"message": "Slept."}},
    ],
}


def stop_issue(tallyho):
    from awm.records import Issue

    _, issues = tallyho
    return Issue(instance_id="awm-remote-stop", repo=issues[0].repo, base_commit=issues[0].base_commit,
                 problem_statement="Please do this: REMOTE-STOP-PLEASE.")


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="needs Linux /proc")
@pytest.mark.parametrize("how", ["stop", "time limit"])
def test_a_stop_or_the_time_limit_ends_the_remote_agent_and_closing_kills_what_it_left(how, servers, model, tallyho,
                                                                                       tmp_path):
    cache, _ = tallyho
    model.scripts = {**model.scripts, "awm-remote-stop": STOP_SCRIPT}
    llm = LLMSpec(model="scripted/demo", base_url=model.base_url)
    agent = agent_spec(servers[:1], timeout_minutes=5 if how == "stop" else 0.25)
    workspace = remote.RemoteServersWorkspace(spec_ns(agent, llm), cache, tmp_path / "work")
    issue = stop_issue(tallyho)
    cancel = threading.Event()
    sleeping = threading.Event()
    stopped_at: list[float] = []

    def stop():
        stopped_at.append(time.monotonic())
        cancel.set()

    def on_event(kind, tool, text):
        if kind == "action" and "sleep 120" in text:
            sleeping.set()
            if how == "stop":
                threading.Timer(1.0, stop).start()

    checkout = workspace.open(issue)
    try:
        started = time.monotonic()
        result, _ = run_issue(issue, checkout, agent, model, tmp_path, cancel=cancel, on_event=on_event)
        # from the stop, or from the limit (the runner's clock starts a moment after `started`)
        late = time.monotonic() - (stopped_at[0] if how == "stop" else started + agent.timeout_minutes * 60)
        assert sleeping.is_set()
        assert result.status == ("cancelled" if how == "stop" else "timeout"), (result.status, result.error)
        assert late < 12, late  # the server was told to stop the step, and `sleep 120` was interrupted there
        assert tagged_pids(checkout.token)  # `sleep 300 &` still runs on the server, tagged ...
    finally:
        leftovers = checkout.close()
    print(f"{how}: the agent ended {late:.1f} s after it; closing killed {leftovers}")
    assert any("sleep 300" in x for x in leftovers)  # ... until the workspace closes, which reports it
    deadline = time.monotonic() + 5
    while tagged_pids(checkout.token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tagged_pids(checkout.token) == []
    assert workspace.pool.busy == []  # the server is free for the next issue


@pytest.mark.slow
def test_remote_api_runs_an_issue_on_the_server_a_fake_runtime_api_hands_out(servers, model, tallyho, local_patches,
                                                                             tmp_path, monkeypatch):
    cache, issues = tallyho
    monkeypatch.setenv("AWM_TEST_RUNTIME_KEY", "runtime-key-abcdef")
    api = FakeRuntimeApi("runtime-key-abcdef", servers[1].url, KEY)
    try:
        llm = LLMSpec(model="scripted/demo", base_url=model.base_url)
        agent = AgentSpec(workspace="remote-api", runtime_api_url=api.url, runtime_api_key_env="AWM_TEST_RUNTIME_KEY",
                          server_image="registry.example/agent-server:{tag}", max_iterations=30, timeout_minutes=5)
        workspace = remote.RuntimeApiWorkspace(spec_ns(agent, llm), cache, tmp_path / "work")
        workspace.api.poll_s = 0.05
        issue = issues[0]
        checkout = workspace.open(issue)
        try:
            assert checkout.server == servers[1].url
            result, _ = run_issue(issue, checkout, agent, model, tmp_path)
        finally:
            checkout.close()
        assert result.status == "finished", result.error
        assert result.patch == local_patches[issue.instance_id]
        start = next(r for r in api.http.requests if r["path"] == "/start")
        assert start["body"]["image"] == "registry.example/agent-server:sweb.eval.x86_64.awm-bench_1776_tallyho-1"
        assert api.stopped == ["rt-1"]  # the runtime is stopped when the issue's workspace closes
    finally:
        api.close()


@pytest.mark.slow
def test_a_reply_in_words_is_nudged_on_a_remote_server_as_locally(servers, model, tallyho, tmp_path):
    from awm.records import Issue

    cache, issues = tallyho
    model.scripts = {**model.scripts, "awm-remote-talk": {
        "match": "REMOTE-TALK-FIRST", "outcome": "wrong", "category": "x",
        "steps": [{"text": "Let me think about the issue first."},
                  {"tool": "terminal", "args": {"command": "echo went-on"}},
                  {"tool": "finish", "args": {"message": "Done."}}],
    }}
    llm = LLMSpec(model="scripted/demo", base_url=model.base_url)
    workspace = remote.RemoteServersWorkspace(spec_ns(agent_spec(servers), llm), cache, tmp_path / "work")
    issue = Issue(instance_id="awm-remote-talk", repo=issues[0].repo, base_commit=issues[0].base_commit,
                  problem_statement="Please do this: REMOTE-TALK-FIRST.")
    checkout = workspace.open(issue)
    try:
        result, events = run_issue(issue, checkout, agent_spec(servers), model, tmp_path)
    finally:
        checkout.close()
    assert result.status == "finished" and result.nudges == 1 and result.protocol == "", result.error
    assert any(kind == "observation" and "went-on" in text for kind, _, text in events)
