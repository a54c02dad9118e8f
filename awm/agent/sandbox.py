"""The local workspace's sandbox (`agent.sandbox`): the agent's shell in namespaces of its own (bubblewrap), and the
in-process file tools confined to the issue's checkout.

What the agent's shell sees inside: the system read-only (/usr, /bin, /lib*, /etc), the Python toolchain awm-tui runs
with read-only (its interpreter and virtualenv, so `python -m pytest` works; awm-tui's own packages hidden if they are
installed there), the issue's checkout read-write at its own path, a private /tmp, /var/tmp and home, and its own /proc
(only its own processes) and /dev. Nothing else: not the user's files (home, data, cache and config dirs: the
repository cache whose mirrors hold every later commit, other runs' folders, datasets with gold patches), not the
project's tree, not the run's other issues. Its environment is rebuilt from an allow-list (ENV_PASSED): never an XDG_*
path, the model's key variable, or any variable whose value is a key.

bwrap is started by a launcher (this file run as a script, stdlib only, like awm.processes' watchdog) that the
terminal runs as its shell. The launcher keeps the allow-listed variables, starts bwrap with them alone (bwrap's pid 1
inside the sandbox shows its own environment in /proc/1/environ), and stays its parent: `--die-with-parent` is tied to
the thread that started the process, and the SDK starts the terminal in a worker thread that ends at once. The issue's
tag (awm.processes.TAG_VAR) is passed in, so closing the workspace and the watchdog end the launcher, bwrap and all
inside it (the launcher's death kills bwrap, whose death ends the pid namespace).

The in-process file tools (file editor, apply_patch, the Gemini file tools) run in awm-tui's own process, outside the
namespaces: `confined` wraps their executors so that every path they are given must resolve (symlinks followed; for a
path that does not exist yet, its nearest existing parent) inside the checkout, otherwise the tool returns an error.

The API:
- `choose(mode, workspace, terminal)`: whether a run's agent is sandboxed and what its start line says (a `Choice`);
  `agent.sandbox: bwrap` where bwrap cannot run is a UserError (field `agent.sandbox`);
- `Sandbox(checkout, folder, secrets)`: one issue's sandbox; `shell_path` is the terminal's shell, `root` the checkout;
- `confined(tools, root)`: tool specs with the in-process file tools confined to `root`;
- `bwrap_args`, `sandbox_env`, `inside`, `probe`: the parts, for tests."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODES = ("auto", "bwrap", "none")
HOME = "/home/agent"  # the sandbox's private home (a tmpfs)
SHELL = "/bin/bash"
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")  # read-only, at their paths
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Passed into the sandbox from the terminal's environment, by name (the terminal's own variables, the locale; and
# awm.processes.TAG_VAR, the tag that ends the agent's processes): nothing else. PATH, HOME, TMPDIR and SHELL are the
# sandbox's own (env_policy).
ENV_PASSED = frozenset({
    "TERM", "COLORTERM", "NO_COLOR", "COLUMNS", "LINES", "PS1", "PS2", "PAGER", "GIT_PAGER", "AI_AGENT",
    "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME",
})
ENV_PASSED_PREFIXES = ("LC_",)
ENV_NEVER_PREFIXES = ("XDG_",)
PROBE_TIMEOUT_S = 20.0
INSTALL_HINT = "install bubblewrap (`apt-get install bubblewrap`, as root)"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


# ---------------------------------------------------------------- the sandbox's view: mounts and environment


def toolchain() -> tuple[list[str], list[str], str]:
    """What the agent's `python` needs, read-only: awm-tui's interpreter (sys.base_prefix) and its virtualenv
    (sys.prefix), where they are not system dirs already; awm-tui's own packages inside them, to hide (an installed,
    not editable, awm-tui would otherwise show its source, the demo's gold patches with it); and the PATH entry to
    put first."""
    roots: list[str] = []
    for prefix in (sys.prefix, sys.base_prefix):
        real = os.path.realpath(prefix)
        if real not in roots and not _under_system(real):
            roots.append(real)
    hidden = []
    for key in ("purelib", "platlib"):
        site = Path(sysconfig.get_paths()[key])
        for name in ("awm", "awm_tui"):
            package = os.path.realpath(site / name)
            if os.path.isdir(package) and package not in hidden:
                hidden.append(package)
    return roots, hidden, str(Path(sys.prefix) / "bin")


def _under_system(path: str) -> bool:
    return any(path == d or path.startswith(d + "/") for d in SYSTEM if not os.path.islink(d))


def bwrap_args(checkout: str | Path, toolchain_dirs: Sequence[str] = (), hidden: Sequence[str] = ()) -> list[str]:
    """bwrap's options (before `--` and the command) for a sandbox around `checkout`: its own pid, IPC and UTS
    namespaces, the system read-only, fresh /proc and /dev, private /tmp, /var/tmp and home, the toolchain
    read-only with `hidden` folders in it emptied, the checkout read-write at its own path (the process reaper
    knows the agent's processes by their working folder there) and the shell started in it."""
    checkout = os.path.abspath(checkout)
    args = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "sandbox", "--die-with-parent"]
    for path in SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    resolv = os.path.realpath("/etc/resolv.conf")  # a symlink into /run on some systems: name lookups need it
    if os.path.isfile(resolv) and not _under_system(resolv):
        args += ["--ro-bind", resolv, resolv]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp",
             "--tmpfs", HOME]
    for path in toolchain_dirs:
        args += ["--ro-bind", path, path]
    for path in hidden:
        args += ["--tmpfs", path, "--remount-ro", path]
    args += ["--bind", checkout, checkout, "--chdir", checkout]
    return args


def env_policy(path_first: str = "", hide: Iterable[str] = (), secrets: Iterable[str] = ()) -> dict[str, Any]:
    """What `sandbox_env` keeps: the allow-list, the sandbox's own PATH/HOME/TMPDIR/SHELL, the variables to drop
    by name (the key's), and the SHA-256 of each secret value (never the values themselves: this goes to a file)."""
    from awm.processes import TAG_VAR

    path = f"{path_first}:{SYSTEM_PATH}" if path_first and path_first not in SYSTEM_PATH.split(":") else SYSTEM_PATH
    return {
        "passed": sorted(ENV_PASSED | {TAG_VAR}), "prefixes": list(ENV_PASSED_PREFIXES),
        "fixed": {"PATH": path, "HOME": HOME, "TMPDIR": "/tmp", "SHELL": SHELL},
        "hide": sorted({h for h in hide if h}), "secrets": sorted({_digest(s) for s in secrets if s}),
    }


def sandbox_env(environ: Mapping[str, str], policy: Mapping[str, Any]) -> dict[str, str]:
    """The sandbox's environment from `environ` (the terminal's): the allow-listed variables and the sandbox's own,
    without any XDG_* variable, any variable `policy` hides by name, or any whose value is a secret."""
    passed, prefixes = set(policy["passed"]), tuple(policy["prefixes"])
    env = {k: v for k, v in environ.items() if k in passed or k.startswith(prefixes)}
    env.update(policy["fixed"])
    secrets, hide = set(policy["secrets"]), set(policy["hide"])
    return {k: v for k, v in env.items()
            if not k.startswith(ENV_NEVER_PREFIXES) and k not in hide and not (v and _digest(v) in secrets)}


def command(config: Mapping[str, Any], environ: Mapping[str, str], argv: Sequence[str],
            lead: bool = False) -> tuple[list[str], dict]:
    """The bwrap command line and its environment for a launcher `config`, the terminal's `environ` and the shell's
    arguments: bwrap gets the allow-listed environment only, and `--clearenv` + `--setenv` give the shell the same.
    With `lead`, the shell leads a session of its own with the terminal (see `leader`)."""
    env = sandbox_env(environ, config["env"])
    setenv = [part for name, value in sorted(env.items()) for part in ("--setenv", name, value)]
    leading = [config["lead"], "--ctty"] if lead and config.get("lead") else []
    return [config["bwrap"], *config["args"], "--clearenv", *setenv, "--", *leading, config["shell"], *argv], env


# ---------------------------------------------------------------- can it run here?

_probed: dict[str, str] = {}
_probe_lock = threading.Lock()


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def probe() -> str:
    """"" when bwrap runs here with the sandbox's exact options, else why not; asked once per process."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform}; use `agent.workspace: docker` to confine the agent)"
    path = bwrap_path()
    if path is None:
        return "bwrap is not installed"
    with _probe_lock:
        if path not in _probed:
            _probed[path] = _try(path)
        return _probed[path]


def _try(path: str) -> str:
    roots, hidden, first = toolchain()
    with tempfile.TemporaryDirectory(prefix="awm-sandbox-probe-") as checkout:
        argv = [path, *bwrap_args(checkout, roots, hidden), "--clearenv", "--setenv", "PATH", SYSTEM_PATH, "--",
                SHELL, "-c", "test -d /proc/1 && test -w . && true"]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                                  env={"PATH": SYSTEM_PATH}, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{path} could not be run ({type(exc).__name__}: {exc})"
    if proc.returncode != 0:
        said = " ".join((proc.stderr or proc.stdout).split())[:300] or f"exit status {proc.returncode}"
        return f"{path} fails here ({said})"
    return ""


# ---------------------------------------------------------------- the run's choice


EXPOSED = ("the agent's commands and file tools run as you on this machine, unconfined: they can read your files "
           "(home, ~/.ssh, ~/.config, the repository cache in the user data dir, whose mirrors hold every later "
           "commit, the fixes included; other runs' folders and the datasets with their gold patches), see every "
           "process of the machine, and read the model's API key in awm-tui's /proc/<pid>/environ (the key "
           "variable is blanked only in the agent's own shell)")


@dataclass(frozen=True)
class Choice:
    """Whether a run's local agent is sandboxed, and what the run's start line says about it ("" nothing)."""

    on: bool
    notice: str = ""


def choose(mode: str, workspace: str = "local", terminal: str = "subprocess") -> Choice:
    """The sandbox a run's agent gets from `agent.sandbox`: `bwrap` (refused with a UserError where bwrap cannot
    run, or with the tmux terminal), `auto` (bwrap where it runs, otherwise unconfined with a notice saying what
    the agent can reach), `none` (unconfined, said plainly). Other workspaces isolate the agent themselves: off,
    nothing said."""
    if workspace != "local":
        return Choice(False)
    if mode == "none":
        return Choice(False, f"agent.sandbox is none: {EXPOSED}. Use `agent.sandbox: auto` (bubblewrap) or "
                             "`agent.workspace: docker` for a model you do not fully trust.")
    if terminal == "tmux":
        if mode == "bwrap":
            from awm.errors import UserError

            raise UserError(
                "`sandbox: bwrap` runs the agent's shell inside bubblewrap, which the subprocess terminal supports "
                "and the tmux terminal does not (OpenHands' tmux terminal starts its shell itself, outside any "
                "sandbox). Set `agent.terminal: subprocess`, or `agent.sandbox: none` to run the agent unconfined.",
                field="agent.terminal")
        return Choice(False, f"agent.sandbox is auto, but the tmux terminal cannot run in the sandbox, so {EXPOSED}. "
                             "Set `agent.terminal: subprocess` to sandbox the agent.")
    why = probe()
    if not why:
        return Choice(True)
    if mode == "bwrap":
        from awm.errors import UserError

        raise UserError(
            f"`sandbox: bwrap` runs the agent's commands in a bubblewrap sandbox, and {why}. To fix it, "
            f"{INSTALL_HINT} and run again; or set `agent.sandbox: none` to run the agent unconfined (it can then "
            "read your files and the model's key), or `auto` (sandboxed wherever bwrap runs).", field="agent.sandbox")
    return Choice(False, f"agent.sandbox is auto and {why}, so {EXPOSED}. To sandbox the agent, {INSTALL_HINT}.")


def leader() -> str:
    """util-linux's `setsid`, which starts the shell inside the sandbox in a session of its own with the terminal as
    its controlling terminal (`setsid --ctty`): the shell leads its session, as the terminal's unsandboxed shell
    does, so job control, a typed Ctrl-C and awm.processes' interrupt (the command in front, never the shell at its
    prompt) work as they do there. "" where it is missing (the launcher then takes the terminal itself)."""
    for path in ("/usr/bin/setsid", "/bin/setsid"):
        if os.access(path, os.X_OK):
            return path
    return ""


# ---------------------------------------------------------------- one issue's sandbox


class Sandbox:
    """One issue's sandbox around its checkout: a launcher and its settings, written to `folder` (outside the
    checkout, so the agent never sees them; removed with the issue's folder). `shell_path` is what the terminal runs
    as its shell; `root` the folder the in-process file tools are confined to. `secrets`: values no variable of the
    sandbox may hold (the model's keys); `hide`: variables it never gets (the key's)."""

    def __init__(self, checkout: Path, folder: Path, secrets: Iterable[str] = (), hide: Iterable[str] = ()):
        bwrap = bwrap_path()
        if bwrap is None:
            raise RuntimeError("bwrap is not installed")
        self.root = str(checkout)
        roots, hidden, first = toolchain()
        self.config = {"bwrap": bwrap, "args": bwrap_args(checkout, roots, hidden), "shell": SHELL,
                       "lead": leader(), "env": env_policy(first, hide, secrets)}
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        config_path = folder / "sandbox.json"
        config_path.write_text(json.dumps(self.config, indent=1))
        config_path.chmod(0o600)
        launcher = folder / "shell"
        launcher.write_text(
            "#!/bin/sh\n# awm-tui: the agent's shell, in its bubblewrap sandbox (awm/agent/sandbox.py)\n"
            f"exec {shlex.quote(sys.executable)} -I -S {shlex.quote(os.path.abspath(__file__))} --shell "
            f"{shlex.quote(str(config_path))} \"$@\"\n")
        launcher.chmod(0o700)
        self.shell_path = str(launcher)


def launch(config_path: str, argv: Sequence[str]) -> int:
    """The launcher: bwrap with the allow-listed environment and the sandbox's options, running the shell with
    `argv`, as this process's child; its exit status. A Ctrl-C or quit from the terminal is for the shell (the
    launcher's handlers are reset in bwrap); a hang-up, SIGTERM or SIGKILL ends the launcher, and bwrap with it."""
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    tty = os.isatty(0)
    lead = tty and bool(config.get("lead")) and _terminal_free()
    args, env = command(config, os.environ, argv, lead)
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, lambda *_: None)  # caught, not ignored: the child starts with the default again
    if tty and not lead:
        _take_terminal()
    try:
        proc = subprocess.Popen(args, env=env)
    except OSError as exc:
        print(f"awm-tui sandbox: cannot start {config['bwrap']}: {exc}", file=sys.stderr)
        return 127
    code = proc.wait()  # a signal caught meanwhile is waited through (PEP 475)
    return 128 - code if code < 0 else code


def _terminal_free() -> bool:
    """Whether the terminal on stdin is no session's controlling terminal yet, so that the shell can take it (the
    SDK's terminal gives the launcher a fresh one, in a session of its own)."""
    try:
        import fcntl

        fcntl.ioctl(0, 0x5429, b"\0\0\0\0")  # TIOCGSID (Linux; not in the termios module): the session owning it
        return False
    except (ImportError, OSError) as exc:
        return getattr(exc, "errno", None) == errno.ENOTTY


def _take_terminal() -> None:
    """Where the shell cannot lead its own session with the terminal (no `setsid`): make the terminal the launcher's
    session's controlling terminal if it is free (the shell inside, which does not lead that session, cannot), so
    that the shell still has job control and a Ctrl-C reaches the command in front. (awm.processes then sees the
    shell at its prompt as a command in front.)"""
    try:
        import fcntl
        import termios

        if os.getsid(0) == os.getpid():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    except (ImportError, OSError):
        pass  # not a terminal, or one that is another session's: the shell runs without job control


# ---------------------------------------------------------------- the in-process file tools

CONFINED = "awm_confined"  # the registry name of the wrapper that confines a file tool (see `confined`)
# The in-process file tools and how each names its paths: the action's field, or the paths of an apply_patch patch.
PATH_FIELDS = {"file_editor": "path", "read_file": "file_path", "write_file": "file_path", "edit": "file_path",
               "list_directory": "dir_path", "apply_patch": "patch"}
_PATCH_PATHS = ("*** Update File: ", "*** Delete File: ", "*** Add File: ", "*** Move to: ")


def inside(path: str, root: str, cwd: str | None = None) -> bool:
    """Whether `path` (relative ones from `cwd`, default `root`) resolves inside `root`: every symlink followed, and
    for a path that does not exist yet, its nearest existing parent resolved and the rest taken as written."""
    try:
        real_root = os.path.realpath(root)
        real = os.path.realpath(path if os.path.isabs(path) else os.path.join(cwd or root, path))
    except (OSError, ValueError):  # a NUL byte, a path too long: nothing the tool could open inside either
        return False
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")


def action_paths(tool: str, action: Any) -> list[str]:
    """The paths an in-process file tool's action touches."""
    field = PATH_FIELDS.get(tool)
    value = getattr(action, field, None) if field else None
    if not isinstance(value, str):
        return []
    if tool != "apply_patch":
        return [value]
    return [line[len(prefix):].strip() for line in value.splitlines() for prefix in _PATCH_PATHS
            if line.startswith(prefix)]


def outside_text(path: str, root: str) -> str:
    return (f"Error: {path} is outside the workspace. This tool can only read and change files in the repository "
            f"at {root} (paths are resolved, symlinks followed, before they are used).")


def confined(tools: list, root: str) -> list:
    """`tools` (SDK Tool specs) with each in-process file tool (PATH_FIELDS) replaced by its confined version: the
    same tool, whose executor first checks that every path of the action resolves inside `root`."""
    from openhands.sdk import Tool

    _register()
    return [Tool(name=CONFINED, params={"tool": spec.name, "root": root, **({"params": dict(spec.params)}
                                                                          if spec.params else {})})
            if spec.name in PATH_FIELDS else spec for spec in tools]


_registered = threading.Lock()
_done: list[bool] = []


def _register() -> None:
    with _registered:
        if _done:
            return
        from openhands.sdk.tool import ToolDefinition, ToolExecutor, register_tool
        from openhands.sdk.tool.registry import resolve_tool

        class PathGuard(ToolExecutor):
            """An in-process file tool's executor, behind a check of the paths its actions name."""

            def __init__(self, inner: Any, tool: Any, root: str):
                self.inner, self.tool_name, self.root = inner, tool.name, root
                self.observation_type = tool.observation_type

            def __call__(self, action: Any, conversation: Any = None) -> Any:
                for path in action_paths(self.tool_name, action):
                    if not inside(path, self.root):
                        return self.refuse(action, outside_text(path, self.root))
                return self.inner(action, conversation)

            def refuse(self, action: Any, text: str) -> Any:
                """An error observation of the tool's own type; its required fields (the command, the path) are
                the action's."""
                kind = self.observation_type
                given = {name: getattr(action, name) for name, info in kind.model_fields.items()
                         if info.is_required() and name not in ("content", "is_error") and hasattr(action, name)}
                return kind.from_text(text=text, is_error=True, **given)

            def close(self) -> None:
                self.inner.close()

            def __getattr__(self, name: str) -> Any:
                if name == "inner":
                    raise AttributeError(name)
                return getattr(self.inner, name)

        class AwmConfined(ToolDefinition):
            """Registered only to make confined file tools: `create` resolves the named tool and wraps it."""

            @classmethod
            def create(cls, conv_state: Any, tool: str, root: str, params: dict | None = None) -> list:
                from openhands.sdk import Tool

                made = resolve_tool(Tool(name=tool, params=params or {}), conv_state)
                return [t.model_copy(update={"executor": PathGuard(t.executor, t, root)}) for t in made]

        register_tool(CONFINED, AwmConfined)
        _done.append(True)


if __name__ == "__main__" and sys.argv[1:2] == ["--shell"]:
    sys.exit(launch(sys.argv[2], sys.argv[3:]))
