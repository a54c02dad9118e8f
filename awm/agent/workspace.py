"""Where the agent works on one issue. One protocol for the local checkout, the Docker sandbox and the remote agent
servers (awm.agent.remote): the loop opens a workspace for an issue, the agent works in it, the patch is taken from
it, and closing it ends everything the agent started there and removes what it made."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from awm import atomic, runfiles
from awm.agent import sandbox
from awm.agent.sandbox import Sandbox
from awm.errors import UserError
from awm.processes import end_processes, interrupt_commands, new_token, owner_token, run_token, shell_env
from awm.records import Issue
from awm.repos import MissingCommit, RepoCache, diff_against, remove


class OpenWorkspace(Protocol):
    """One issue's workspace, open."""

    repo_path: str  # where the agent finds the repository (the prompt names it)
    terminal: str  # the terminal the agent's shell runs in: subprocess | tmux
    shell_env: dict[str, str]  # what the agent's shell adds to its environment (the tag that ends its processes)

    def conversation_workspace(self) -> Any:
        """What the SDK's `Conversation(workspace=...)` takes: a local folder, or a remote workspace."""

    def interrupt(self, hard: bool) -> None:
        """Ctrl-C the commands running now (`hard`: kill them)."""

    def patch(self) -> str:
        """Every change the agent made, new files included, against the issue's start."""

    def close(self) -> list[str]:
        """End every process started in the workspace and remove it; returns what had to be killed (the agent's
        leftovers, described). Later calls: []."""


class Workspace(Protocol):
    """Where each issue's agent works; made once per run from the spec."""

    name: str

    def open(self, issue: Issue) -> OpenWorkspace: ...


WORK_PREFIX = "awm-"  # + 10 hex digits: a run's work root in the system temp dir
_OWNER = ".awm-run.json"  # in a work root: the run it is for, and the process that made it
LEGACY_AGE_S = 24 * 3600  # a work root without an owner file (made before there was one) is stale after this


def work_root(run_dir: Path) -> Path:
    """The run's scratch folder under the system temp dir. Same length for every run, so prompts (and their token
    counts) do not depend on the run's name. Made at the run's start, which first sweeps away the work roots of
    runs that no process works on (sweep_work_roots); removed when the run's parts close (remove_work_root)."""
    tag = hashlib.sha1(str(run_dir).encode()).hexdigest()[:10]
    root = Path(tempfile.gettempdir()) / f"{WORK_PREFIX}{tag}"
    sweep_work_roots(keep=root)
    root.mkdir(parents=True, exist_ok=True)
    atomic.write_json(root / _OWNER, {"run_dir": str(run_dir), "pid": os.getpid()})
    return root


def remove_work_root(root: Path) -> None:
    """The run's work root and everything left in it (its checkouts); what the run's parts call when they close."""
    remove(root)


def sweep_work_roots(keep: Path | None = None, temp_dir: Path | None = None) -> list[Path]:
    """Remove the work roots in the temp dir that no process works on: the process that made it is gone and no
    engine holds its run's lock (a killed run that was never resumed, or a crash before its parts closed). A
    resumed run makes its work root again. Returns what was removed."""
    removed = []
    for root in Path(temp_dir or tempfile.gettempdir()).glob(f"{WORK_PREFIX}*"):
        tag = root.name[len(WORK_PREFIX):]
        if root == keep or len(tag) != 10 or any(c not in "0123456789abcdef" for c in tag) or not root.is_dir():
            continue
        try:
            if _stale(root):
                remove(root)
                removed.append(root)
        except OSError:
            continue  # removed by another sweep meanwhile, or not ours to read
    return removed


def _stale(root: Path) -> bool:
    owner = atomic.read_json(root / _OWNER, None)
    if not isinstance(owner, dict):
        return time.time() - root.stat().st_mtime > LEGACY_AGE_S
    pid, run_dir = owner.get("pid"), Path(str(owner.get("run_dir", "")))
    if isinstance(pid, int) and atomic.alive(pid):
        return False  # its process is starting the run, running it, or may run it again
    return not _run_held(run_dir)


def _run_held(run_dir: Path) -> bool:
    """Whether an engine holds the run's lock (the lock awm.run.store.RunStore.lock takes)."""
    return atomic.held(run_dir / runfiles.LOCK)


class LocalCheckout:
    """A throwaway checkout at the base commit on this machine; the agent's commands run here with the user's
    rights, inside `sandbox` when it has one (awm.agent.sandbox: its own namespaces, the checkout and the toolchain
    its whole view). Every process started for it carries its token (awm.processes): its shell gets `shell_env`, and
    closing it kills whatever carries the token or still works in the checkout, wherever it went (`cd /tmp && sleep
    300 &`, `setsid`, a double fork)."""

    def __init__(self, path: Path, base_commit: str, terminal: str, run_token: str = "", hide_env: Iterable[str] = (),
                 sandbox: Sandbox | None = None):
        self.path = path
        self.repo_path = str(path)
        self.base_commit = base_commit
        self.terminal = terminal
        self.sandbox = sandbox  # the runner gives the terminal its shell, and confines the file tools to its root
        self.token = new_token("i")
        # the issue's, the run's (a resumed run ends what a killed one left), and this process's (its watchdog ends
        # them all if awm-tui dies)
        self.tokens = tuple(t for t in (self.token, run_token, owner_token()) if t)
        self.shell_env = shell_env(self.tokens, hide_env)  # what the agent's terminal adds to its environment
        self.leftovers: list[str] = []  # what closing had to kill, described ("pid 123: sleep 300")
        self.closed = False

    def conversation_workspace(self) -> str:
        return self.repo_path

    def interrupt(self, hard: bool) -> None:
        interrupt_commands([self.token], self.path if hard else None, hard)

    def patch(self) -> str:
        return diff_against(self.path, self.base_commit)

    def close(self) -> list[str]:
        """End every process started for the issue and remove the checkout; what had to be killed (the agent's
        terminal is closed by then, so these are leftovers, such as its background jobs). Later calls: []."""
        if self.closed:
            return []
        self.closed = True
        self.leftovers = end_processes([self.token], self.path)
        remove(self.path.parent)
        return self.leftovers


class LocalWorkspace:
    name = "local"

    def __init__(self, cache: RepoCache, root: Path, terminal: str = "subprocess", hide_env: Iterable[str] = (),
                 sandboxed: bool = False, secrets: Iterable[str] = (), notice: str = ""):
        self.cache = cache
        self.root = root
        self.terminal = terminal
        self.hide_env = tuple(hide_env)  # variables the agent's shell must not see (set empty there)
        self.sandboxed = sandboxed  # each checkout in a bubblewrap sandbox (awm.agent.sandbox)
        self.secrets = tuple(s for s in secrets if s)  # values no variable in the sandbox may hold (the model's keys)
        self.notice = notice  # what the run's start line says about the agent's confinement ("": nothing)
        self.run_token = run_token(root)
        self.stale: list[str] | None = None  # what an earlier, killed process of this run left, ended on first open

    def close(self) -> None:
        """Remove the work root and every checkout left in it (the run's end, or its pause)."""
        remove_work_root(self.root)

    def open(self, issue: Issue) -> LocalCheckout:
        if self.stale is None:  # the run's lock is held by now: whatever else carries the run's token is orphaned
            self.stale = end_processes([self.run_token], spare=[owner_token()])
        path = self.root / issue.instance_id / issue.repo.split("/")[-1]
        checkout = LocalCheckout(path, issue.base_commit, self.terminal, self.run_token, self.hide_env)
        try:
            self.cache.checkout(issue.repo, issue.base_commit, path, isolated=True)
            if self.sandboxed:  # its launcher beside the checkout, out of the agent's sight; removed with it
                checkout.sandbox = Sandbox(path, path.parent / ".sandbox", self.secrets, self.hide_env)
        except MissingCommit:
            checkout.close()
            raise UserError(
                f"{issue.instance_id}: its base commit {issue.base_commit} is not in {self.cache.source(issue.repo)}. "
                f"Set `repos.{issue.repo}` to a clone or URL that has it, or fix the record's base_commit; "
                "then resume.",
                field=f"repos.{issue.repo}") from None
        except BaseException:
            checkout.close()
            raise
        return checkout


def make_workspace(spec, cache: RepoCache, root: Path, run_dir: Path | None = None, check: bool = True) -> Workspace:
    """Where the spec's agent works (`agent.workspace`); `check` False: its outside needs (agent servers) were
    checked by the run's preflight, and are not asked again."""
    if spec.agent.workspace == "docker":
        # each issue in a container of its image, its agent server on a loopback port: see awm.agent.docker
        from awm.agent.docker import DockerWorkspace

        return DockerWorkspace(spec, cache, root, run_dir=run_dir)
    if spec.agent.workspace in ("remote", "remote-api"):
        # OpenHands agent servers (a pool of existing ones, or one per issue from the hosted runtime API): checked
        # here, before the first issue; see awm.agent.remote
        from awm.agent import remote

        return remote.make(spec, cache, root, check=check)
    # The model's key is the run's, not the agent's: its variable is blanked in the agent's shell, and in the sandbox
    # (agent.sandbox) no variable holds it and awm-tui's own /proc/<pid>/environ is out of sight.
    hide = [spec.llm.api_key_env] if spec.llm.api_key_env else []
    choice = sandbox.choose(spec.agent.sandbox, "local", spec.agent.terminal)
    secrets = [spec.llm.api_key, spec.induction.llm.api_key if spec.induction.llm else None,
               *(os.environ.get(name) for name in hide)]
    return LocalWorkspace(cache, root, spec.agent.terminal, hide_env=hide, sandboxed=choice.on,
                          secrets=[s for s in secrets if s], notice=choice.notice)
