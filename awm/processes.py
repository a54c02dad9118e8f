"""The end of every process started for an issue: the agent's shell and all it starts, a grading run's tests.

Every process started for an issue (the agent's shell and all it starts, a grading run's tests) carries the
environment variable TAG_VAR, a space-separated list of tokens, which its descendants inherit whatever they do
(`cd /tmp`, `setsid`, a double fork, `nohup ... &`). Ending an issue's processes is a scan of /proc for its token,
the descendants of what carries it (so a child started with `env -i` is found while its parent lives) and, for a
checkout, whatever works in its folder; then SIGKILL, again until nothing is left. One token per awm-tui process
("owner") is swept by a watchdog in a session of its own when awm-tui exits, however it exits (`kill -9` too): it
waits on a pipe that only awm-tui holds. Linux only (/proc); elsewhere the scans find nothing.

Stdlib only: the watchdog runs this file as a script (`python -I -S processes.py --watchdog TOKEN`), without the
package or site-packages, so that it starts in milliseconds and never depends on the environment it guards."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

TAG_VAR = "AWM_PROCESS_TAG"
PROC = Path("/proc")


def new_token(kind: str) -> str:
    """A fresh token; `kind` says what it marks: i an issue's workspace, o an awm-tui process, g a grading command."""
    return f"{kind}-{secrets.token_hex(6)}"


def run_token(root: Path) -> str:
    """The token of a run's processes: the same in every awm-tui process that works on the run (it is made from the
    run's scratch folder), so a resumed run can end what a killed one left running."""
    return "r-" + hashlib.sha1(str(root).encode()).hexdigest()[:12]


def tag_env(*tokens: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variable that marks a child process with `tokens` (a tag this process carries itself is kept)."""
    inherited = (os.environ if base is None else base).get(TAG_VAR, "").split()
    return {TAG_VAR: " ".join(dict.fromkeys([*inherited, *(t for t in tokens if t)]))}


def shell_env(tokens: Iterable[str], hide: Iterable[str] = ()) -> dict[str, str]:
    """What the agent's shell gets on top of this process's environment: the tag, and each variable named in `hide`
    set empty (the SDK's terminal takes additions to the environment, no removals). The one place to keep a
    variable, such as the model's API key, from the agent's commands."""
    hidden = {name: "" for name in hide if name in os.environ and name != TAG_VAR}
    return {**hidden, **tag_env(*tokens)}


# ---------------------------------------------------------------- processes


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    sid: int
    tpgid: int  # the foreground process group of its terminal (-1: none)
    state: str
    start: int  # clock ticks after boot: with the pid, names the process (pids are reused)
    tags: frozenset[str]
    cwd: str

    def describe(self) -> str:
        try:
            command = (PROC / str(self.pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            command = ""
        return f"pid {self.pid}: {command.strip() or '?'}"[:200]


def processes(with_cwd: bool = False) -> dict[int, Proc]:
    """The processes of this machine, as far as /proc shows them to this user (no tags and no cwd for the others')."""
    procs: dict[int, Proc] = {}
    try:
        names = os.listdir(PROC)
    except OSError:
        return procs
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            proc = Proc(int(name), int(fields[1]), int(fields[3]), int(fields[5]), fields[0].decode(),
                        int(fields[19]), _tags(name), _cwd(name) if with_cwd else "")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        procs[proc.pid] = proc
    return procs


def _tags(pid: str) -> frozenset[str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = b"\0" + f.read()
    except OSError:
        return frozenset()
    at = data.find(b"\0" + TAG_VAR.encode() + b"=")
    if at < 0:
        return frozenset()
    value = data[at + len(TAG_VAR) + 2:].split(b"\0", 1)[0]
    return frozenset(value.decode(errors="replace").split())


def _cwd(pid: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def find(tokens: Iterable[str], under: Path | None = None, spare: Iterable[str] = ()) -> list[Proc]:
    """The live processes that carry one of `tokens` or work in `under`, and all their descendants (a process that
    dropped the variable is still its parent's child), but none that carries a token of `spare`, and never this
    process or its ancestors."""
    tokens, spare = frozenset(tokens), frozenset(spare)
    procs = processes(with_cwd=under is not None)
    root = os.path.realpath(under) if under is not None else ""
    marked = {pid for pid, p in procs.items()
              if p.tags & tokens or (root and (p.cwd == root or p.cwd.startswith(root + os.sep)))}
    children: dict[int, list[int]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    stack = list(marked)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in marked:
                marked.add(child)
                stack.append(child)
    mine, pid = set(), os.getpid()
    while pid in procs and pid not in mine:
        mine.add(pid)
        pid = procs[pid].ppid
    return [procs[pid] for pid in sorted(marked)
            if pid not in mine and procs[pid].state not in ("Z", "X", "x") and not procs[pid].tags & spare]


def send(proc: Proc, sig: int) -> bool:
    """Signal `proc` if it is still that process (not a new one that got its pid)."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        fd = None
    try:
        with open(f"/proc/{proc.pid}/stat", "rb") as f:
            if int(f.read().rsplit(b")", 1)[1].split()[19]) != proc.start:
                return False
        if fd is None:
            os.kill(proc.pid, sig)
        else:
            signal.pidfd_send_signal(fd, sig)
        return True
    except (OSError, IndexError, ValueError):
        return False
    finally:
        if fd is not None:
            os.close(fd)


CONFIRM = 0.02  # s between the two empty scans that end end_processes


def end_processes(tokens: Iterable[str], under: Path | None = None, spare: Iterable[str] = (),
                  rounds: int = 50) -> list[str]:
    """SIGKILL every process `find` gives, again until two rounds in a row find none it has not signalled (what
    forked meanwhile); what was killed, described ("pid 123: sleep 300")."""
    tokens, spare = tuple(tokens), tuple(spare)
    if not tokens and under is None:
        return []
    tried: set[tuple[int, int]] = set()
    killed: list[str] = []
    quiet = 0
    for _ in range(rounds):
        fresh = [p for p in find(tokens, under, spare) if (p.pid, p.start) not in tried]
        if not fresh:
            # Done only after two rounds in a row find nothing, CONFIRM apart: a process in the middle of an exec
            # (a background `cd /tmp && sleep 300 &` becoming `sleep`) shows an empty environment for a moment,
            # so one scan can miss its tag (seen: a test's leftover survived its checkout's close, about 1 in 6).
            quiet += 1
            if quiet >= 2:
                break
            time.sleep(CONFIRM)
            continue
        quiet = 0
        for proc in _deepest_first(fresh):
            tried.add((proc.pid, proc.start))
            description = proc.describe()
            if send(proc, signal.SIGKILL):
                killed.append(description)
        time.sleep(0.005)
    return killed


def _deepest_first(procs: list[Proc]) -> list[Proc]:
    """`procs`, each after its descendants among them: killed in this order, what a process started is killed (and
    said) before the process, which matters where killing the parent ends its children too (a sandbox's init ends
    its pid namespace, awm.agent.sandbox)."""
    by_pid = {p.pid: p for p in procs}

    def depth(proc: Proc) -> int:
        seen = {proc.pid}
        while proc.ppid in by_pid and proc.ppid not in seen:
            proc = by_pid[proc.ppid]
            seen.add(proc.pid)
        return len(seen)

    return sorted(procs, key=depth, reverse=True)


def interrupt_commands(tokens: Iterable[str], under: Path | None = None, hard: bool = False) -> int:
    """Stop the agent's running command: SIGINT to the foreground process group of its terminal, as Ctrl-C would (the
    shell survives and prints its prompt, so the terminal tool returns); nothing while the shell itself is in front
    (at its prompt, a Ctrl-C would only garble the next command's output; between a loop's commands, the next tick
    catches the command). With `hard`, SIGKILL to every process there. How many groups or processes were hit."""
    if hard:
        return len(end_processes(tokens, under))
    groups = {p.tpgid for p in find(tokens, under) if p.tpgid > 0 and p.tpgid != p.sid}  # the shell leads its session
    hit = 0
    for group in groups:
        try:
            os.killpg(group, signal.SIGINT)
            hit += 1
        except OSError:
            continue
    return hit


def group_env(token: str) -> dict[str, str]:
    """The tag for a command run in a session of its own (a grading step): its token and this process's."""
    return tag_env(owner_token(), token)


def wait_ended(proc: subprocess.Popen, timeout_s: float, token: str) -> tuple[str, str, bool]:
    """`proc.communicate()` for a command started in a session of its own with `group_env(token)`: its stdout, its
    stderr ("" when not piped) and whether the time ran out. Past `timeout_s`, or when this thread is interrupted
    (KeyboardInterrupt, SystemExit), its group and everything carrying the token are killed; when it ends, so is
    what it left running in the background (which would hold its pipes open, and the wait with them)."""
    deadline = time.monotonic() + timeout_s
    timed_out = False
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=max(0.0, min(0.25, deadline - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    timed_out = proc.poll() is None
                    _end_group(proc, token)
                    out, err = _drain(proc)
                    break
                if proc.poll() is not None:  # it ended: what it left holds its pipes
                    end_processes([token])
    except BaseException:
        _end_group(proc, token)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        raise
    finally:
        end_processes([token])
    return out or "", err or "", timed_out


def _drain(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:  # a pipe held by something that shed the tag and left the group
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        proc.wait()
        return "", ""


def _end_group(proc: subprocess.Popen, token: str) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    end_processes([token])


# ---------------------------------------------------------------- the watchdog

_owner_lock = threading.Lock()
_owner: tuple[int, str, subprocess.Popen | None] | None = None  # (pid, token, its watchdog): a fork starts its own
_watchdogs: list[tuple[subprocess.Popen, int]] = []  # each with the pipe's end that keeps it waiting


def owner_token() -> str:
    """This awm-tui process's token, on every process started for any of its issues; its watchdog is started on first
    use (and again if it died) and ends them all when this process exits, even by SIGKILL."""
    global _owner
    with _owner_lock:
        if _owner is None or _owner[0] != os.getpid():
            token = new_token("o")
            _owner = (os.getpid(), token, start_watchdog(token))
        elif _owner[2] is not None and _owner[2].poll() is not None:
            for dead in [pair for pair in _watchdogs if pair[0] is _owner[2]]:
                _watchdogs.remove(dead)
                os.close(dead[1])
            _owner = (_owner[0], _owner[1], start_watchdog(_owner[1]))
        return _owner[1]


def start_watchdog(token: str) -> subprocess.Popen | None:
    """A process of its own session that waits on a pipe only this process holds (not inherited: os.pipe's ends are
    close-on-exec) and, when it closes (this process exited, however), ends every process carrying `token`."""
    if not (PROC / "self" / "environ").exists():
        return None
    read, write = os.pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-S", str(Path(__file__).resolve()), "--watchdog", token],
                                stdin=read, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)
    except OSError:
        os.close(write)
        return None
    finally:
        os.close(read)
    _watchdogs.append((proc, write))
    return proc


def _watch(token: str) -> None:
    for sig in (signal.SIGINT, signal.SIGHUP):  # a terminal's Ctrl-C or hang-up is for awm-tui
        signal.signal(sig, signal.SIG_IGN)
    try:
        while os.read(0, 1024):
            pass
    except OSError:
        pass
    end_processes([token])
    remove_containers(token)


CONTAINER_LABEL = "awm-tui.owner"  # on every container an awm-tui process starts: its owner token


def remove_containers(token: str) -> None:
    """Remove the Docker containers labelled with `token` (an agent's, a grading's, a build's), with the docker CLI
    (this file imports nothing but the standard library). Silent when there is no docker or no engine."""
    docker = shutil.which("docker")
    if docker is None:
        return
    try:
        listed = subprocess.run([docker, "ps", "-aq", "--filter", f"label={CONTAINER_LABEL}={token}"],
                                capture_output=True, text=True, timeout=60)
        ids = listed.stdout.split()
        if ids:
            subprocess.run([docker, "rm", "-f", *ids], capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        pass


if __name__ == "__main__" and sys.argv[1:2] == ["--watchdog"]:
    _watch(sys.argv[2])
