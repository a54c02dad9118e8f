"""Agents on remote runtimes: each issue's agent runs in an OpenHands agent server (the `openhands-agent-server`
package, the server OpenHands itself runs inside its Docker and Kubernetes sandboxes); the evaluation stays here.

Two ways to get agent servers:
- `agent.workspace: remote`: servers someone already runs (`agent.servers: [URL, ...]`), one issue per server at a
  time (ServerPool), authenticated with their session API key (the variable `agent.server_key_env` names; sent as
  the `X-Session-API-Key` header, held in memory only).
- `agent.workspace: remote-api`: OpenHands' hosted runtime API starts one agent server per issue (RuntimeApi: the
  requests openhands-workspace's APIRemoteWorkspace sends, written here because that package is optional).

Either way an issue gets a RemoteCheckout: the server's machine cannot reach this machine's repository cache, so the
base commit alone (its tree and files, no parents, no later history: the same objects as a local isolated checkout)
is packed into a git bundle here, uploaded through the server's file API and unbundled there into a fresh repository
with HEAD detached at the base commit: no remote, no branches, no tags, no FETCH_HEAD, marked shallow. The agent's
conversation is the SDK's remote conversation (its events stream back over the server's websocket into the same
callbacks as a local one); the patch is `git diff` against the base commit in the remote checkout, downloaded as a
file (exact bytes). Every process the agent's shell starts carries the issue's tag (awm.processes.TAG_VAR) in its
environment; closing the checkout kills whatever on the server carries it or still works in the checkout (a /proc
scan in POSIX sh, run through the server's bash API), then removes the checkout.

A server that stops answering (RemoteCheckout's health watch: /health asked every HEALTH_EVERY_S while the agent
works and once at close, LOST_AFTER failures in a row) sets the checkout's `lost`: the engine interrupts the agent
and opens the issue again (awm.run.loop), the pool takes the server out for the rest of the run (ServerLost when
it is found dead while a checkout is made, NoServerLeft once none is left: the run stops, to be resumed once the
servers answer again). Faults of the agent or the model leave /health answering: they stay the issue's ERROR.

Only this module's own HTTP checks import httpx at call time; the SDK's RemoteWorkspace is imported when an issue's
workspace opens."""

from __future__ import annotations

import os
import re
import shlex
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from awm.errors import UserError, brief
from awm.processes import TAG_VAR, new_token
from awm.records import Issue
from awm.repos import JUNK, MissingCommit, RepoCache, _copy_commit, git, remove

KEY_HEADER = "X-Session-API-Key"  # the agent server's session API key
RUNTIME_KEY_HEADER = "X-API-Key"  # the runtime API's key
CHECK_TIMEOUT_S = 10.0
# A server that stops answering while an issue runs on it (killed, its machine down, its port closed): its /health
# is asked every HEALTH_EVERY_S while the agent works, and once more when the issue's workspace closes; LOST_AFTER
# failed answers in a row (connection refused, a timeout, not 2xx) and it counts as dead. An agent's or a model's
# fault leaves /health answering: those stay the issue's ERROR.
HEALTH_EVERY_S = 2.0
HEALTH_TIMEOUT_S = 5.0
LOST_AFTER = 3
SETUP_TIMEOUT_S = 300.0  # unbundling a large repository's base commit on the server
DEFAULT_SERVER_IMAGE = "ghcr.io/openhands/agent-server:latest-python"  # openhands-agent-server's own default
LOCAL = "or set `agent.workspace: local` (the agent's commands then run on this machine, in a checkout)"
START = "`python -m openhands.agent_server --host 0.0.0.0 --port 8000` with SESSION_API_KEY set, on the server"
# What git reads on the server: the repository's own config only (the server user's config could change the diff).
GIT_ENV = "GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0"


class RemoteError(RuntimeError):
    """An agent server failed a step of an issue's workspace (the issue's ERROR, not the run's end)."""


class PoolClosed(RuntimeError):
    """The pool was closed (the run ended) while waiting for a server."""


class ServerLost(RemoteError):
    """The agent server an issue's workspace was being made on stopped answering (its health check fails): it is out
    of the pool, and the issue is to be opened again elsewhere, not recorded as an ERROR."""

    def __init__(self, server: str, reason: str):
        super().__init__(f"the agent server {server} stopped answering ({reason})")
        self.server = server
        self.reason = reason


class NoServerLeft(RemoteError):
    """Every server of the pool stopped answering and was taken out: nothing is left to run an issue on."""

    def __init__(self, lost: dict[str, str]):
        super().__init__("every agent server stopped answering: " + "; ".join(f"{s} ({r})" for s, r in lost.items()))
        self.lost = dict(lost)


# ------------------------------------------------------------------------------------------------------- the pool


class ServerPool:
    """The spec's agent servers, one issue each at a time. `acquire` hands out a free server, the one idle longest,
    to the workspaces that ask in the order they asked, and blocks while every server is busy; `release` gives it
    back; `retire` takes a server that stopped answering out for good (the run's rest; a resume starts with the
    spec's whole list again), and once none is left `acquire` raises NoServerLeft. Thread-safe: the run's workers
    open workspaces concurrently."""

    def __init__(self, servers: Iterable[str]):
        self.servers = list(dict.fromkeys(normalise(s) for s in servers))
        if not self.servers:
            raise ValueError("no servers")
        self._free: deque[str] = deque(self.servers)
        self._waiting: deque[object] = deque()  # tickets of the threads waiting, first come first served
        self._cond = threading.Condition()
        self._closed = False
        self.handed: list[str] = []  # every server handed out, in order
        self.lost: dict[str, str] = {}  # the servers taken out, and why

    def acquire(self, timeout: float | None = None, cancelled: Callable[[], bool] | None = None) -> str:
        """A free server, waited for (TimeoutError after `timeout` s; PoolClosed once the pool is closed; NoServerLeft
        once every server is taken out; RemoteError when `cancelled()` turns true)."""
        ticket = object()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._waiting.append(ticket)
            try:
                while not (self._free and self._waiting[0] is ticket):
                    if self._closed:
                        raise PoolClosed("the agent-server pool is closed")
                    if not self.servers:
                        raise NoServerLeft(self.lost)
                    if cancelled is not None and cancelled():
                        raise RemoteError("stopped while waiting for a free agent server")
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise TimeoutError(f"no agent server was free within {timeout:g} s")
                    self._cond.wait(0.2 if left is None else min(0.2, left))
                server = self._free.popleft()
                self.handed.append(server)
                return server
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()  # the next in line may be served now

    def release(self, server: str) -> None:
        with self._cond:
            if server not in self.servers or server in self._free:
                raise ValueError(f"{server} is not handed out by this pool")
            self._free.append(server)
            self._cond.notify_all()

    def retire(self, server: str, reason: str) -> None:
        """`server` stopped answering: out of the pool for good (handed out or free); whoever waits is woken."""
        with self._cond:
            if server in self.servers:
                self.servers.remove(server)
            if server in self._free:
                self._free.remove(server)
            self.lost[server] = reason
            self._cond.notify_all()

    @property
    def busy(self) -> list[str]:
        with self._cond:
            return [s for s in self.servers if s not in self._free]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def normalise(url: str) -> str:
    return str(url).strip().rstrip("/")


# ------------------------------------------------------------------------------------------- checks before issue 1


def env_key(name: str | None, field: str, what: str) -> str | None:
    """The value of the variable a spec field names (None when the field is unset); unset or empty: a UserError."""
    if not name:
        return None
    value = os.environ.get(name, "")
    if not value.strip():
        raise UserError(f"`{field}` names the variable {name}, which is not set or is empty. Export it with {what} "
                        f"(`export {name}=...`), or remove `{field}` if none is needed.", field=field)
    return value


def check_servers(servers: list[str], key: str | None, key_env: str | None, *, timeout: float = CHECK_TIMEOUT_S,
                  client: Any = None) -> None:
    """Each server answers as an OpenHands agent server and accepts the key: else a one-paragraph UserError naming
    `agent.servers` (not reachable, not an agent server) or `agent.server_key_env` (the key is refused or missing)."""
    import httpx

    http = client or httpx.Client(timeout=timeout)
    try:
        for url in servers:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise UserError(f"{url!r} is not an agent server's address: give http://HOST:PORT (or https://...) "
                                f"for each server, e.g. `servers: [http://10.0.0.5:8000]`.", field="agent.servers")
            try:
                health = http.get(f"{url}/health")
            except Exception as exc:  # noqa: BLE001 - any failure to connect is the same message
                raise UserError(
                    f"the agent server {url} is not reachable ({brief(exc, limit=200)}). Start it ({START}), "
                    f"check that this machine can reach that address and port, or fix the address in "
                    f"`agent.servers`; {LOCAL}.",
                    field="agent.servers") from None
            if health.status_code != 200:
                raise UserError(f"{url}/health answered HTTP {health.status_code}: {url} is not an OpenHands agent "
                                f"server (or is still starting). Give the address of one started with {START}.",
                                field="agent.servers")
            try:
                answer = http.get(f"{url}/api/conversations/count", headers={KEY_HEADER: key} if key else {})
            except Exception as exc:  # noqa: BLE001
                raise UserError(f"the agent server {url} stopped answering ({brief(exc, limit=200)}). Check it "
                                "and its address in `agent.servers`.", field="agent.servers") from None
            if answer.status_code in (401, 403):
                if key is None:
                    raise UserError(
                        f"the agent server {url} requires a session API key, and `agent.server_key_env` names no "
                        "variable holding one. Set `server_key_env: NAME` under `agent:` and export NAME with the "
                        "key the servers were started with (their SESSION_API_KEY).", field="agent.server_key_env")
                raise UserError(
                    f"the agent server {url} refused the key in {key_env} (HTTP {answer.status_code}): it is not the "
                    f"session API key that server was started with. Export the right key in {key_env}, or point "
                    "`agent.server_key_env` at the variable that holds it.", field="agent.server_key_env")
            if answer.status_code != 200:
                raise UserError(f"{url} answered HTTP {answer.status_code} to the agent server's API "
                                f"(/api/conversations/count): not an OpenHands agent server of the version awm-tui "
                                f"uses (openhands-agent-server 1.58.2). Start one with {START}.",
                                field="agent.servers")
    finally:
        if client is None:
            http.close()


def check_model_reach(base_url: str | None, hosts: Iterable[str], where: str) -> None:
    """The agent's model is called from the agent server: a model on this machine's loopback is out of reach of a
    server on another machine."""
    model_host = urlparse(base_url or "").hostname or ""
    if not _loopback(model_host):
        return
    far = [h for h in hosts if not _loopback(urlparse(h).hostname or "")]
    if far:
        raise UserError(
            f"the agent's model is served on {model_host} (this machine's loopback), and with `agent.workspace: "
            f"{where}` the model is called from the agent server ({far[0]}), where {model_host} is that machine "
            "itself. Serve the model on an address the servers can reach (listening there), or run the servers on "
            f"this machine's 127.0.0.1; {LOCAL}.", field="llm.base_url")


def check_available(spec) -> str | None:
    """Everything `agent.workspace: remote | remote-api` needs from outside, checked (a UserError naming the field
    otherwise): the key's variable set, the servers (or the runtime API) answering and accepting it, the model
    reachable from them. Cheap (one or two requests per server): the workspace checks again when it is made, and
    launch's preflight calls this before the run folder is made, and the workspace is then made unchecked.

    Args:
        spec: the run's spec (its `agent` and `llm`).

    Returns:
        The key (servers' or runtime API's; None when none is configured).

    Raises:
        UserError: naming the field to change (agent.servers, agent.server_key_env, agent.runtime_api_key_env,
            llm.base_url).
    """
    from awm import demo

    agent = spec.agent
    model_url = spec.llm.base_url or ("http://127.0.0.1/" if demo.is_scripted(spec.llm.model) else None)
    if agent.workspace == "remote-api":
        if not agent.runtime_api_key_env:
            raise UserError("`workspace: remote-api` starts each issue's agent server through OpenHands' runtime "
                            "API, which needs a key, and `agent.runtime_api_key_env` names no variable holding one. "
                            "Add `runtime_api_key_env: NAME` under `agent:` and export NAME with your runtime API "
                            "key.", field="agent.runtime_api_key_env")
        key = env_key(agent.runtime_api_key_env, "agent.runtime_api_key_env", "your OpenHands runtime API key")
        api = RuntimeApi(agent.runtime_api_url, key)
        try:
            api.check()
        finally:
            api.close()
        check_model_reach(model_url, [api.url], "remote-api")
        return key
    servers = [normalise(s) for s in agent.servers]
    if not servers:
        raise UserError("`workspace: remote` runs each issue's agent on an OpenHands agent server, and "
                        f"`agent.servers` names none. Add their addresses, e.g. `servers: [http://10.0.0.5:8000]` "
                        f"(start one with {START}).", field="agent.servers")
    key = env_key(agent.server_key_env, "agent.server_key_env", "the agent servers' session API key")
    check_servers(servers, key, agent.server_key_env)
    check_model_reach(model_url, servers, "remote")
    return key


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


# ------------------------------------------------------------------------------------------ the repository's move


def make_bundle(cache: RepoCache, issue: Issue, scratch: Path) -> tuple[bytes, str]:
    """A git bundle of the base commit alone (its tree and files, not its parents, no later history: what a local
    isolated checkout holds), made from the repository cache in a folder under `scratch`, removed after; and the
    base commit's full hash."""
    try:
        mirror = cache.mirror(issue.repo, issue.base_commit)
    except MissingCommit:
        raise UserError(
            f"{issue.instance_id}: its base commit {issue.base_commit} is not in {cache.source(issue.repo)}. "
            f"Set `repos.{issue.repo}` to a clone or URL that has it, or fix the record's base_commit; then resume.",
            field=f"repos.{issue.repo}") from None
    scratch.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bundle-", dir=scratch))
    try:
        commit = git("rev-parse", "--verify", f"{issue.base_commit}^{{commit}}", cwd=mirror).stdout.strip()
        repo = tmp / "base.git"
        git("init", "--quiet", "--bare", str(repo))
        _copy_commit(mirror, commit, repo)
        git("update-ref", "--no-deref", "HEAD", commit, cwd=repo)
        git("bundle", "create", "--quiet", str(tmp / "base.bundle"), "HEAD", cwd=repo)
        return (tmp / "base.bundle").read_bytes(), commit
    finally:
        remove(tmp)


def unbundle_script(folder: str, repo: str, commit: str) -> str:
    """The shell commands that make the agent's repository from the uploaded bundle (`folder`/base.bundle): HEAD
    detached at `commit`, no refs, no remote, shallow; prints HEAD."""
    q = shlex.quote
    return (f"set -e; export {GIT_ENV}; cd {q(folder)}; git init -q {q(repo)}; cd {q(repo)}; "
            "git bundle unbundle ../base.bundle >/dev/null; "
            f"echo {q(commit)} > .git/shallow; "
            f"git -c advice.detachedHead=false checkout -q --detach {q(commit)}; "
            "git config user.name awm-tui; git config user.email awm-tui@localhost; "
            "rm -f ../base.bundle; git rev-parse HEAD")


def diff_script(repo: str, commit: str, out: str) -> str:
    """Every change against the base commit, new files included, into `out`: awm.repos.diff_against, remotely."""
    q = shlex.quote
    junk = " ".join(q(x) for x in JUNK)
    return (f"set -e; export {GIT_ENV}; cd {q(repo)}; git add -A -- . {junk}; "
            f"git diff --no-color --cached {q(commit)} -- . {junk} > {q(out)}")


def reap_script(token: str, folder: str, hard: bool) -> str:
    """POSIX sh for the server's machine (Linux /proc; elsewhere it finds nothing). `hard`: SIGKILL every process that
    carries `token` in TAG_VAR or works under `folder`, again until none is left, printing `pid N: command` for
    each; else SIGINT to the foreground process group of their terminal (Ctrl-C to the running command)."""
    q = shlex.quote
    match = f"^{TAG_VAR}=(.* )?{re.escape(token)}( .*)?$"
    return f"""cd /
tok_re={q(match)}; dir={q(folder.rstrip('/') or '/nonexistent')}; me=$$
hit() {{
  d=$1
  if {{ tr '\\000' '\\n' < "$d/environ"; }} 2>/dev/null | grep -Eq "$tok_re"; then return 0; fi
  c=$(readlink "$d/cwd" 2>/dev/null) || return 1
  case "$c" in "$dir"|"$dir"/*) return 0;; esac
  return 1
}}
if [ {1 if hard else 0} = 1 ]; then
  seen=" "
  for round in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    found=0
    for d in /proc/[0-9]*; do
      p=${{d#/proc/}}
      [ "$p" = "$me" ] && continue
      hit "$d" || continue
      cmd=$({{ tr '\\000' ' ' < "$d/cmdline"; }} 2>/dev/null | cut -c1-150)
      if kill -9 "$p" 2>/dev/null; then
        found=1
        case "$seen" in *" $p "*) ;; *) seen="$seen$p "; echo "pid $p: ${{cmd:-?}}";; esac
      fi
    done
    [ $found = 0 ] && break
    sleep 0.01
  done
else
  groups=" "
  for d in /proc/[0-9]*; do
    p=${{d#/proc/}}
    [ "$p" = "$me" ] && continue
    hit "$d" || continue
    s=$({{ cat "$d/stat"; }} 2>/dev/null) || continue
    s=${{s##*) }}
    set -- $s
    sid=$4; tpgid=$6
    [ "$tpgid" -gt 0 ] 2>/dev/null || continue
    [ "$tpgid" = "$sid" ] && continue
    case "$groups" in *" $tpgid "*) continue;; esac
    groups="$groups$tpgid "
    kill -INT "-$tpgid" 2>/dev/null || true  # dash takes no `--` here
  done
fi
exit 0
"""


# ---------------------------------------------------------------------------------------------- one issue's checkout


class RemoteCheckout:
    """One issue's repository in an agent server (an OpenWorkspace): the agent's conversation runs there, its patch is
    taken there, and closing it kills what the agent left running there, removes the checkout, and hands the server
    back (`on_close`).

    With `watch`, the server's health is checked while the agent works and when the checkout closes: a server that
    stopped answering (LOST_AFTER failed checks in a row) sets `lost` (why; "" while it answers), which the engine
    reads as "interrupt the agent, redo the issue elsewhere"; the checkout then sends the server nothing more, and
    hands it to `on_lost(why)` instead of `on_close`."""

    closed: bool  # declared here as well: the container checkout (awm.agent.docker), defined in a function, reads it

    def __init__(self, server: str, key: str | None, base_commit: str, terminal: str = "subprocess",
                 hide_env: Iterable[str] = (), on_close: Callable[[], object] | None = None, *,
                 workspace_factory: Callable[..., Any] | None = None, watch: bool = False,
                 on_lost: Callable[[str], object] | None = None):
        self.server = normalise(server)
        self._key = key  # memory only: never in a message, a log or a file
        self.base_commit = base_commit
        self.terminal = terminal
        self.token = new_token("i")
        # the tag ends what the agent starts; the model's key variable is blanked there as here
        self.shell_env = {**{name: "" for name in hide_env if name and name != TAG_VAR}, TAG_VAR: self.token}
        self.folder = ""  # the checkout's scratch folder on the server
        self.repo_path = ""  # where the agent finds the repository there (the prompt names it)
        self.leftovers: list[str] = []
        self.closed = False
        self.lost = ""  # why the server counts as dead ("" while it answers)
        self.watch = watch
        self._on_close = on_close
        self._on_lost = on_lost
        self._unwatched = threading.Event()  # set when the checkout closes: the health watch ends
        self._watcher: threading.Thread | None = None
        self._factory = workspace_factory
        self._control = self._workspace("/")  # setup, interrupts, the patch, cleanup: a client of its own
        self._conversation_ws: Any = None
        self._soft_at = 0.0

    def __repr__(self) -> str:
        return f"RemoteCheckout({self.server!r}, repo_path={self.repo_path!r})"

    def _workspace(self, working_dir: str):
        if self._factory is not None:
            return self._factory(host=self.server, api_key=self._key, working_dir=working_dir)
        from awm.model.client import setup_environment

        setup_environment()
        from openhands.sdk.workspace import RemoteWorkspace

        return RemoteWorkspace(host=self.server, api_key=self._key, working_dir=working_dir)

    def _run(self, command: str, timeout: float = 120.0, what: str = "") -> str:
        result = self._control.execute_command(command, timeout=timeout)
        if result.exit_code != 0:
            detail = (result.stderr or result.stdout or "").strip()[-300:]
            raise RemoteError(f"{what or 'a command'} failed on the agent server {self.server} (exit "
                              f"{result.exit_code}): {self._scrub(detail) or 'no output'}")
        return result.stdout or ""

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "<redacted>") if self._key else text

    def setup(self, bundle: bytes, repo_name: str) -> None:
        """A scratch folder on the server, the bundle uploaded there, the repository made from it at the base
        commit (checked)."""
        folder = self._run('mktemp -d "${TMPDIR:-/tmp}/awm-remote-XXXXXXXXXX"', 30, "making a scratch folder")
        folder = folder.strip().splitlines()[-1].strip() if folder.strip() else ""
        if not folder.startswith("/"):
            raise RemoteError(f"the agent server {self.server} gave no scratch folder (mktemp said {folder!r})")
        self.folder = folder
        self.repo_path = f"{folder}/{repo_name}"
        uploaded = self._control.file_upload(bundle, f"{folder}/base.bundle")
        if not uploaded.success:
            raise RemoteError(f"uploading the repository to the agent server {self.server} failed: "
                              f"{self._scrub(str(uploaded.error))[:300]}")
        out = self._run(unbundle_script(folder, repo_name, self.base_commit), SETUP_TIMEOUT_S, "making the checkout")
        head = out.strip().splitlines()[-1].strip() if out.strip() else ""
        if not head or head != self.base_commit:
            raise RemoteError(f"the checkout on {self.server} is not at the base commit {self.base_commit} "
                              f"(HEAD {head or '?'})")

    # the OpenWorkspace protocol

    def conversation_workspace(self):
        if self._conversation_ws is None:
            self._conversation_ws = self._workspace(self.repo_path)
            if self.watch and self._watcher is None and not self.closed:  # the agent starts: its server is watched
                self._watcher = threading.Thread(target=self._watch_health, daemon=True, name="awm-server-health")
                self._watcher.start()
        return self._conversation_ws

    def _watch_health(self) -> None:
        failed = 0
        while not self._unwatched.wait(HEALTH_EVERY_S):
            reason = probe(self.server)
            failed = failed + 1 if reason else 0
            if failed >= LOST_AFTER:
                self.lost = reason
                return

    def interrupt(self, hard: bool) -> None:
        """Ctrl-C the agent's running command on the server (`hard`: kill everything it started there). A soft one is
        sent at most once a second (the guard asks every tick)."""
        now = time.monotonic()
        if self.lost or (not hard and now - self._soft_at < 1.0):  # a dead server is sent nothing
            return
        self._soft_at = now
        try:
            self._control.execute_command(reap_script(self.token, self.folder, hard), timeout=60)
        except Exception:  # noqa: BLE001 - a server gone cannot be interrupted; the run's limit still holds
            pass

    def patch(self) -> str:
        if not self.folder:
            raise RemoteError("the checkout was never made")
        if self.lost:
            raise RemoteError(f"the agent server {self.server} stopped answering ({self.lost})")
        out = f"{self.folder}/awm-patch.diff"
        self._run(diff_script(self.repo_path, self.base_commit, out), 300, "taking the patch")
        with tempfile.TemporaryDirectory(prefix="awm-patch-") as tmp:
            local = Path(tmp) / "patch.diff"
            got = self._control.file_download(out, local)
            if not got.success:
                raise RemoteError(f"downloading the patch from {self.server} failed: "
                                  f"{self._scrub(str(got.error))[:300]}")
            return local.read_bytes().decode("utf-8", errors="replace")

    def close(self) -> list[str]:
        """Kill what the agent left running on the server, remove the checkout, hand the server back; what had to be
        killed. Later calls: []."""
        if self.closed:
            return []
        self.closed = True
        self._unwatched.set()
        try:
            if self._watcher is not None:
                self._watcher.join(HEALTH_TIMEOUT_S + 1)
            if self.watch and not self.lost:
                self.lost = dead(self.server)  # one request when it answers
            if self.folder and not self.lost:
                try:
                    out = self._control.execute_command(reap_script(self.token, self.folder, True), timeout=60)
                    self.leftovers = [line.strip() for line in (out.stdout or "").splitlines()
                                      if line.startswith("pid ")]
                except Exception:  # noqa: BLE001
                    pass
                try:
                    self._control.execute_command(f"rm -rf {shlex.quote(self.folder)}", timeout=120)
                except Exception:  # noqa: BLE001
                    pass
            self._reset_clients()
        finally:
            self._hand_back()
        return self.leftovers

    def _reset_clients(self) -> None:
        for ws in (self._conversation_ws, self._control):
            try:
                if ws is not None and hasattr(ws, "reset_client"):
                    ws.reset_client()
            except Exception:  # noqa: BLE001
                pass

    def _hand_back(self) -> None:
        """The server (or runtime) back to whoever gave it, once: to `on_lost` when it stopped answering."""
        on_close, on_lost, self._on_close, self._on_lost = self._on_close, self._on_lost, None, None
        if self.lost and on_lost is not None:
            on_lost(self.lost)
        elif on_close is not None:
            on_close()


# ------------------------------------------------------------------------------------------------ the workspaces


def _hidden(spec) -> list[str]:
    return [spec.llm.api_key_env] if getattr(spec.llm, "api_key_env", None) else []


def _repo_name(issue: Issue) -> str:
    return issue.repo.split("/")[-1] or "repo"


class RemoteServersWorkspace:
    """`agent.workspace: remote`: each issue on a free server of `agent.servers`, checked before the first issue
    (reachable, an agent server, the key accepted: UserError naming the field otherwise)."""

    name = "remote"

    def __init__(self, spec, cache: RepoCache, root: Path, *, check: bool = True,
                 workspace_factory: Callable[..., Any] | None = None):
        agent = spec.agent
        self.servers = [normalise(s) for s in agent.servers]
        if check:
            self._key = check_available(spec)
        else:
            self._key = env_key(agent.server_key_env, "agent.server_key_env", "the agent servers' session API key")
        self.pool = ServerPool(self.servers)
        self.cache = cache
        self.scratch = root / ".remote"
        self.terminal = agent.terminal
        self.hide_env = _hidden(spec)
        self._factory = workspace_factory

    def open(self, issue: Issue) -> RemoteCheckout:
        """A checkout of `issue` on a free server. ServerLost when the server handed out turns out dead (it is out of
        the pool; open again to get another), NoServerLeft when none is left."""
        # packed before a server is taken: no server idles meanwhile
        bundle, commit = make_bundle(self.cache, issue, self.scratch)
        server = self.pool.acquire()
        return _open_checkout(server, self._key, commit, bundle, issue, lambda: self.pool.release(server),
                              self.terminal, self.hide_env, self._factory,
                              on_lost=lambda why: self.pool.retire(server, why))

    def close(self) -> None:
        self.pool.close()


@dataclass
class Runtime:
    runtime_id: str
    url: str
    session_api_key: str | None = None


class RuntimeApi:
    """OpenHands' hosted runtime API, the requests openhands-workspace's APIRemoteWorkspace sends (key in X-API-Key):
    POST /start {image, command, working_dir, environment, session_id, run_as_user, fs_group, image_pull_policy,
    runtime_class} -> {runtime_id | id, url, session_api_key}; GET /sessions/{session_id} -> {pod_status, ...} until
    "ready" and the runtime's /health answers; POST /stop {runtime_id}."""

    COMMAND = "/usr/local/bin/openhands-agent-server --port 60000"  # the binary target of the agent-server images

    def __init__(self, url: str, key: str | None, *, startup_timeout: float = 300.0, poll_s: float = 2.0,
                 api_timeout: float = 60.0, runtime_class: str | None = "sysbox-runc", client: Any = None):
        self.url = normalise(url)
        self._key = key
        self.startup_timeout = startup_timeout
        self.poll_s = poll_s
        self.api_timeout = api_timeout
        self.runtime_class = runtime_class
        self._client = client

    def _http(self):
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=httpx.Timeout(connect=10.0, read=self.api_timeout, write=30.0,
                                                              pool=10.0))
        return self._client

    def _request(self, method: str, path: str, **kwargs):
        headers = {RUNTIME_KEY_HEADER: self._key} if self._key else {}
        return self._http().request(method, f"{self.url}{path}", headers=headers, **kwargs)

    def check(self) -> None:
        """Reachable and the key accepted (a session that does not exist is looked up: 404 is the good answer)."""
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise UserError(f"{self.url!r} is not the runtime API's address: give https://HOST (the default is "
                            "https://runtime.all-hands.dev).", field="agent.runtime_api_url")
        try:
            answer = self._request("GET", f"/sessions/awm-check-{uuid.uuid4().hex[:12]}", timeout=CHECK_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"the runtime API {self.url} is not reachable ({brief(exc, limit=200)}). Check the "
                            f"address in `agent.runtime_api_url` and this machine's network; {LOCAL}.",
                            field="agent.runtime_api_url") from None
        if answer.status_code in (401, 403):
            raise UserError(f"the runtime API {self.url} refused the key (HTTP {answer.status_code}). Export the key "
                            "OpenHands gave you in the variable `agent.runtime_api_key_env` names.",
                            field="agent.runtime_api_key_env")
        if answer.status_code not in (200, 404):
            raise UserError(f"{self.url} answered HTTP {answer.status_code} to a runtime lookup: not OpenHands' "
                            "runtime API. Check `agent.runtime_api_url`.", field="agent.runtime_api_url")

    def start(self, image: str, session_id: str, environment: dict[str, str] | None = None) -> Runtime:
        payload: dict[str, Any] = {
            "image": image, "command": self.COMMAND, "working_dir": "/", "environment": environment or {},
            "session_id": session_id, "run_as_user": 10001, "fs_group": 10001, "image_pull_policy": "IfNotPresent",
        }
        if self.runtime_class:
            payload["runtime_class"] = self.runtime_class
        answer = self._request("POST", "/start", json=payload, timeout=self.startup_timeout)
        if answer.status_code >= 400:
            raise RemoteError(f"the runtime API would not start {image}: HTTP {answer.status_code} "
                              f"{self._scrub(answer.text)[:300]}")
        data = answer.json()
        runtime = Runtime(str(data.get("runtime_id") or data.get("id") or ""), str(data.get("url") or ""),
                          data.get("session_api_key"))
        if not runtime.runtime_id or not runtime.url:
            raise RemoteError(f"the runtime API's answer to /start has no runtime id or url: {sorted(data)}")
        try:
            self.wait_ready(session_id, runtime)
        except BaseException:
            self.stop(runtime.runtime_id)
            raise
        return runtime

    def wait_ready(self, session_id: str, runtime: Runtime) -> None:
        deadline = time.monotonic() + self.startup_timeout
        status = "?"
        while time.monotonic() < deadline:
            answer = self._request("GET", f"/sessions/{session_id}")
            if answer.status_code < 400:
                data = answer.json()
                status = str(data.get("pod_status", "")).lower()
                if status == "ready" and _healthy(self._http(), runtime.url):
                    return
                if status in ("failed", "unknown", "crashloopbackoff"):
                    raise RemoteError(f"the runtime {runtime.runtime_id} failed to start (pod status {status})")
            time.sleep(self.poll_s)
        raise RemoteError(f"the runtime {runtime.runtime_id} was not ready within {self.startup_timeout:g} s "
                          f"(pod status {status})")

    def stop(self, runtime_id: str) -> None:
        try:
            self._request("POST", "/stop", json={"runtime_id": runtime_id}, timeout=30.0)
        except Exception:  # noqa: BLE001 - best effort: the runtime API also ends idle runtimes
            pass

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "<redacted>") if self._key else text

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _healthy(http, url: str) -> bool:
    try:
        return 200 <= http.get(f"{normalise(url)}/health", timeout=5.0).status_code < 300
    except Exception:  # noqa: BLE001
        return False


def probe(url: str, timeout: float = HEALTH_TIMEOUT_S) -> str:
    """"" when the agent server at `url` answers /health (2xx); else what went wrong, in a few words."""
    import httpx

    try:
        answer = httpx.get(f"{normalise(url)}/health", timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - refused, reset, timed out: all the same here
        return brief(exc, limit=200)
    return "" if 200 <= answer.status_code < 300 else f"/health answered HTTP {answer.status_code}"


def dead(url: str, tries: int = LOST_AFTER, pause: float = 1.0) -> str:
    """Why the agent server at `url` counts as dead ("" when it answers): `tries` failed health checks in a row,
    `pause` s apart."""
    reason = ""
    for n in range(tries):
        reason = probe(url)
        if not reason:
            return ""
        if n + 1 < tries:
            time.sleep(pause)
    return reason


class RuntimeApiWorkspace:
    """`agent.workspace: remote-api`: an agent server started per issue by OpenHands' hosted runtime API
    (`agent.runtime_api_url`, key in the variable `agent.runtime_api_key_env`), image `agent.server_image` (slots
    {instance_id}, {image}, {tag} as for docker; default the agent server's own image), stopped when the issue's
    workspace closes."""

    name = "remote-api"

    def __init__(self, spec, cache: RepoCache, root: Path, *, check: bool = True, api: RuntimeApi | None = None,
                 workspace_factory: Callable[..., Any] | None = None):
        agent = spec.agent
        if check:
            key = check_available(spec)
        else:
            key = env_key(agent.runtime_api_key_env, "agent.runtime_api_key_env", "your OpenHands runtime API key")
        self.api = api or RuntimeApi(agent.runtime_api_url, key)
        self.image = agent.server_image or DEFAULT_SERVER_IMAGE
        self.cache = cache
        self.scratch = root / ".remote"
        self.terminal = agent.terminal
        self.hide_env = _hidden(spec)
        self._factory = workspace_factory

    def image_for(self, issue: Issue) -> str:
        from awm.images.engine import swebench_image

        base = swebench_image(issue.instance_id)
        return self.image.format(instance_id=issue.instance_id, image=base, tag=base.split("/")[-1].split(":")[0])

    def open(self, issue: Issue) -> RemoteCheckout:
        bundle, commit = make_bundle(self.cache, issue, self.scratch)
        session = f"awm-{re.sub(r'[^a-z0-9-]+', '-', issue.instance_id.lower())[:40]}-{uuid.uuid4().hex[:8]}"
        runtime = self.api.start(self.image_for(issue), session)
        def stop(*why: str) -> None:  # at close; a runtime that stopped answering is stopped too
            self.api.stop(runtime.runtime_id)

        return _open_checkout(runtime.url, runtime.session_api_key, commit, bundle, issue, stop, self.terminal,
                              self.hide_env, self._factory, on_lost=stop)

    def close(self) -> None:
        self.api.close()


def make(spec, cache: RepoCache, root: Path, *, check: bool = True):
    """The workspace `agent.workspace` names (remote | remote-api).

    Args:
        spec: the run's spec.
        cache: the repository cache the checkouts are bundled from.
        root: the run's work folder (its `.remote` scratch).
        check: check the servers (or the runtime API) now, before the first issue (`check_available`); False when
            the run's preflight has just done so.

    Raises:
        UserError: naming the field, when the servers or the API cannot be used (or, unchecked, the key is unset).
    """
    if spec.agent.workspace == "remote-api":
        return RuntimeApiWorkspace(spec, cache, root, check=check)
    return RemoteServersWorkspace(spec, cache, root, check=check)


def _open_checkout(url: str, key: str | None, commit: str, bundle, issue: Issue, release: Callable[[], object],
                   terminal: str, hide_env, factory, on_lost: Callable[[str], object]) -> RemoteCheckout:
    """A checkout of `issue` on the agent server at `url`, set up from `bundle`, its server watched; `release` gives
    the server (or the runtime) back, at close or at once if the checkout cannot be made, `on_lost` instead when the
    server stopped answering (then ServerLost is raised here)."""
    try:
        checkout = RemoteCheckout(url, key, commit, terminal, hide_env, on_close=release, workspace_factory=factory,
                                  watch=True, on_lost=on_lost)
    except BaseException:
        release()
        raise
    try:
        checkout.setup(bundle, _repo_name(issue))
    except BaseException as exc:
        checkout.close()  # checks the server's health
        if checkout.lost and isinstance(exc, Exception):
            raise ServerLost(checkout.server, checkout.lost) from None
        raise
    return checkout
