"""Checkouts for the agent and the evaluator: a bare mirror per repository, cloned once, and a fresh working
tree per use at the base commit. The evaluator's trees borrow the mirror's objects (no copy, no new clone); the
agent's holds a copy of the base commit's objects and nothing else, with no path back to the mirror.

Mirrors are shared by every run on the machine: making or fetching one happens under a file lock next to it, and
whoever takes the lock first checks again whether another process did the work meanwhile."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from awm import atomic, demo
from awm.errors import UserError

# Bytecode and tool caches the agent's test runs leave behind are never part of a fix.
JUNK = (":(exclude,glob)**/__pycache__/**", ":(exclude,glob)**/*.pyc", ":(exclude,glob)**/.pytest_cache/**")
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}


class GitError(RuntimeError):
    pass


class MissingCommit(GitError):
    """The repository's source does not have a commit an instance needs."""


def git(*args: str, cwd: Path | None = None, check: bool = True,
        input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, text=True, env={**os.environ, **_GIT_ENV}
    )
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:3])} failed: {proc.stderr.strip()[:500]}")
    return proc


class RepoCache:
    """Bare mirrors under `root`, one per repository, made from the spec's `repos` sources (a URL or a local
    path; GitHub by default)."""

    def __init__(self, root: Path, sources: dict[str, str] | None = None):
        self.root = root
        self.sources = sources or {}

    def clear_debris(self) -> list[Path]:
        """Half-made clones and builds that a killed process left in the cache."""
        return atomic.clear_scratch(self.root)

    def source(self, repo: str) -> str:
        return self.sources.get(repo) or f"https://github.com/{repo}.git"

    def path(self, repo: str) -> Path:
        return self.root / (repo.replace("/", "__") + ".git")

    def mirror(self, repo: str, commit: str | None = None) -> Path:
        """The repository's mirror, cloned now if it is not cached, fetched now if it lacks `commit`. A local path
        source is checked even when the mirror is cached (a typo must not run against what was cloned before).

        Args:
            repo: the repository (owner/name).
            commit: a commit the mirror must have (None: any mirror will do).

        Returns:
            The mirror's path (a bare repository).

        Raises:
            UserError: the source is not a git repository, or cannot be cloned (field `repos.<repo>`).
            MissingCommit: the source does not have `commit`.
        """
        path = self.path(repo)
        self._check_source(repo)
        if path.exists() and (not commit or _has_commit(path, commit)):
            return path
        self.root.mkdir(parents=True, exist_ok=True)
        with atomic.locked(path.with_name(path.name + ".lock")):
            if not path.exists():  # another process may have cloned it while this one waited
                self._clone(repo, path)
            if commit and not _has_commit(path, commit):
                if demo.is_builtin(self.source(repo)):  # built by an older awm-tui: rebuilt (the mirror's origin)
                    demo.build_repo(self.root / "_build" / repo.replace("/", "__"))
                git("fetch", "--quiet", "--tags", "origin", "+refs/heads/*:refs/heads/*", cwd=path, check=False)
                if not _has_commit(path, commit):
                    raise MissingCommit(f"commit {commit} is not in {self.source(repo)}")
        return path

    def _check_source(self, repo: str) -> str:
        """The source to clone from, a local path checked to be a git repository (UserError, field `repos.<repo>`,
        if not: missing, moved or mistyped). Nothing to check offline for a URL."""
        source = self.source(repo)
        if demo.is_builtin(source) or _is_url(source):
            return source
        local = Path(source).expanduser()
        if not (local / ".git").exists() and not (local / "HEAD").exists():
            why = "is not a git repository" if local.exists() else "does not exist"
            raise UserError(
                f"{local} {why}. Give the path of a local clone of the repository, or its git URL.",
                field=f"repos.{repo}",
            )
        return str(local.resolve())

    def _clone(self, repo: str, path: Path) -> None:
        source = self._check_source(repo)
        if demo.is_builtin(source):
            source = str(demo.build_repo(self.root / "_build" / repo.replace("/", "__")))
        tmp = atomic.scratch_dir(self.root, "clone")
        try:
            proc = git("clone", "--quiet", "--mirror", source, str(tmp / "m.git"), check=False)
            if proc.returncode != 0:
                raise UserError(
                    f"cloning {source} failed "
                    f"({proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'no output'}). If this "
                    "machine cannot reach it, clone the repository elsewhere, copy it here and give its local path.",
                    field=f"repos.{repo}",
                )
            git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=tmp / "m.git")
            os.replace(tmp / "m.git", path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def checkout(self, repo: str, commit: str, dest: Path, isolated: bool = False) -> Path:
        """A working tree at `commit`, HEAD detached, no branches or tags. `isolated` (the agent's checkout) copies
        just that commit's objects (a shallow repository of one commit) and names the mirror nowhere: no remote, no
        FETCH_HEAD, no alternates, so no git command can reach the future fix. Otherwise the tree borrows the
        mirror's objects, which is instant (the evaluator's checkouts).

        Args:
            repo: the repository (owner/name).
            commit: the commit checked out.
            dest: the working tree's folder (replaced if it exists).
            isolated: the agent's checkout (see above).

        Returns:
            `dest`.

        Raises:
            UserError, MissingCommit: as `mirror`; GitError: a git command failed.
        """
        mirror = self.mirror(repo, commit)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        git("init", "--quiet", cwd=dest)
        if isolated:
            _copy_commit(mirror, commit, dest / ".git")
        else:
            (dest / ".git" / "objects" / "info" / "alternates").write_text(str(mirror / "objects") + "\n")
        git("-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit, cwd=dest)
        git("config", "user.name", "awm-tui", cwd=dest)
        git("config", "user.email", "awm-tui@localhost", cwd=dest)
        return dest


def diff_against(workdir: Path, base_commit: str) -> str:
    """The agent's patch: every change in the working tree, new files included, against the base commit.

    Args:
        workdir: the working tree.
        base_commit: the commit the patch is against.

    Returns:
        The diff (no colour; bytecode and tool caches left out), "" when nothing changed.

    Raises:
        GitError: git could not stage or diff the tree.
    """
    git("add", "-A", "--", ".", *JUNK, cwd=workdir)
    return git("diff", "--no-color", "--cached", base_commit, "--", ".", *JUNK, cwd=workdir).stdout


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)




def _copy_commit(mirror: Path, commit: str, git_dir: Path) -> None:
    """`commit` with its tree and files (not its parents) packed from `mirror` into the repository `git_dir`,
    marked shallow there. Unlike a fetch, this leaves nothing that names the mirror (a fetch writes FETCH_HEAD)."""
    commit = git("rev-parse", "--verify", f"{commit}^{{commit}}", cwd=mirror).stdout.strip()
    objects = git("rev-list", "--objects", "--no-walk", commit, cwd=mirror).stdout
    env = {**os.environ, **_GIT_ENV}
    packer = subprocess.Popen(["git", "pack-objects", "--quiet", "--stdout"], cwd=mirror, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    indexer = subprocess.Popen(["git", "--git-dir", str(git_dir), "index-pack", "--stdin"], env=env,
                               stdin=packer.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # (all three pipes were asked for above)
    assert packer.stdout is not None and packer.stdin is not None and packer.stderr is not None
    assert indexer.stderr is not None
    packer.stdout.close()  # the indexer's now: pack-objects sees a broken pipe if index-pack dies
    packer.stdin.write(objects.encode())
    packer.stdin.close()
    pack_err = packer.stderr.read().decode(errors="replace")
    index_err = indexer.stderr.read().decode(errors="replace")
    if packer.wait() != 0 or indexer.wait() != 0:
        raise GitError(f"copying {commit} out of {mirror} failed: {(pack_err + index_err).strip()[:500]}")
    (git_dir / "shallow").write_text(commit + "\n")  # its parents are not here, and git must not look for them


def _has_commit(mirror: Path, commit: str) -> bool:
    return git("cat-file", "-e", f"{commit}^{{commit}}", cwd=mirror, check=False).returncode == 0


def _is_url(source: str) -> bool:
    return "://" in source or source.startswith("git@")
