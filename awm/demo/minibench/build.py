"""Build the tallyho git repository with a fixed history, so commit hashes are the same on every machine.

Commit 0 is the project with every bug present; commit n fixes bug n (source edits plus its tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from awm import atomic
from awm.atomic import scratch_dir
from awm.demo.minibench.bugs import BUGS

PROJECT_DIR = Path(__file__).parent / "project"
FINAL_HEAD_FILE = Path(__file__).parent / "final_head.txt"
INITIAL_DATE = "2024-03-01T09:00:00+00:00"
_RENAMED = {"gitignore": ".gitignore"}  # shipped without the dot so packaging tools don't treat it as theirs


def git_env(date: str = INITIAL_DATE) -> dict[str, str]:
    """An environment for git that ignores the user's and system config and fixes identities and dates."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        HOME=os.devnull,  # git before 2.32 ignores GIT_CONFIG_GLOBAL and reads ~/.gitconfig
        XDG_CONFIG_HOME=os.devnull,
        GIT_AUTHOR_NAME="Tallyho Maintainers",
        GIT_AUTHOR_EMAIL="maintainers@tallyho.invalid",
        GIT_COMMITTER_NAME="Tallyho Maintainers",
        GIT_COMMITTER_EMAIL="maintainers@tallyho.invalid",
        GIT_AUTHOR_DATE=date,
        GIT_COMMITTER_DATE=date,
        LC_ALL="C",
    )
    return env


def git(repo: Path, *args: str, date: str | None = None, input: str | None = None) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", *args],
        env=git_env(date or INITIAL_DATE),
        input=input,
        capture_output=True,
        encoding="utf-8",
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout


def expected_head() -> str:
    return FINAL_HEAD_FILE.read_text(encoding="utf-8").strip() if FINAL_HEAD_FILE.exists() else ""


def head(repo: Path) -> str | None:
    """HEAD of the repository rooted exactly at `repo` (not of one enclosing it), or None."""
    if not (repo / ".git").is_dir():
        return None
    try:
        return git(repo, "rev-parse", "HEAD").strip()
    except RuntimeError:
        return None


def build_repo(dest: Path) -> Path:
    """The tallyho repository at `dest`: kept if its HEAD is the expected one, otherwise rebuilt and swapped in.
    Safe when several processes ask at once: one builds (holding a lock on the folder `dest` is in), the others
    wait and keep what it built."""
    dest = Path(dest).absolute()
    if head(dest) == expected_head() != "":
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic.locked(dest.parent):
        if head(dest) == expected_head() != "":  # built by another process while this one waited
            return dest
        staging = scratch_dir(dest.parent, "build")
        try:
            build_history(staging)
            _swap_in(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return dest




def _swap_in(staging: Path, dest: Path) -> None:
    old = None
    if dest.exists() or dest.is_symlink():
        old = scratch_dir(dest.parent, "old")
        os.replace(dest, old / "repo")
    try:
        os.rename(staging, dest)
    except OSError:
        if head(dest) != head(staging):  # someone else built it meanwhile; theirs is as good as ours
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_history(repo: Path) -> None:
    git(repo, "init", "-q", "--template=")
    git(repo, "symbolic-ref", "HEAD", "refs/heads/main")  # `init -b main` needs git 2.28
    for source in sorted(PROJECT_DIR.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts and source.suffix != ".pyc":
            relative = source.relative_to(PROJECT_DIR)
            target = repo / relative.parent / _RENAMED.get(relative.name, relative.name)
            _write(target, source.read_text(encoding="utf-8"))
    _commit(repo, "Initial import of tallyho 0.1", INITIAL_DATE)
    for number, bug in enumerate(BUGS, start=1):
        for path, old, new in bug.edits:
            text = (repo / path).read_text(encoding="utf-8")
            if text.count(old) != 1:
                raise RuntimeError(f"bug {number}: {old!r} occurs {text.count(old)} times in {path}")
            _write(repo / path, text.replace(old, new))
        for path, addition in bug.tests.items():
            _write(repo / path, (repo / path).read_text(encoding="utf-8") + addition)
        _commit(repo, f"{bug.title}\n\nFixes #{number}.", bug.created_at[:10] + "T18:00:00+00:00")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    path.chmod(0o644)


def _commit(repo: Path, message: str, date: str) -> None:
    git(repo, "add", "-A", date=date)
    git(repo, "commit", "-q", "--no-verify", "-F", "-", date=date, input=message + "\n")
