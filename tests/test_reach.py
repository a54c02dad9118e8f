"""The agent's checkout has no path to later history: it holds the base commit's objects and nothing else, and no
file under its .git names the mirror (no remote, no FETCH_HEAD, no alternates), so no git command run in it can
reach the instance's fix. The checks are proven to catch a leak on checkouts that do have one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from awm.repos import RepoCache
from support.git import git, run

REPO = "acme/widgets"


def commit(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def history(tmp_path):
    """A source with the base, the fix after it (on main, tagged), and a later commit on another branch; its
    mirror in a cache."""
    src = tmp_path / "source"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    base = commit(src, "core.py", "def area(w, h):\n    return w + h\n", "base")
    fix = commit(src, "core.py", "def area(w, h):\n    return w * h\n", "Fix area: multiply")
    git(src, "tag", "v1.0")
    git(src, "checkout", "-q", "-b", "next")
    later = commit(src, "extra.py", "X = 1\n", "later")
    cache = RepoCache(tmp_path / "cache", {REPO: str(src)})
    mirror = cache.mirror(REPO)
    return cache, mirror, src, base, [fix, later]


def _has(dest: Path, commit: str) -> bool:
    return run(dest, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


def _sources_named_in(git_dir: Path) -> set[str]:
    """Every word in any file under .git that git could fetch from: a URL, or a path that exists."""
    named = set()
    for path in git_dir.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for word in re.split(r"[\s'\"=]+", text):
            word = word.strip(",;")
            if "://" in word or word.startswith("git@"):
                named.add(word)
            elif word.startswith(("/", "~/", ".")) and len(word) > 1:
                try:  # binary files (the index, packs) give random words too
                    candidate = Path(word).expanduser() if word.startswith(("/", "~/")) else git_dir / word
                    if candidate.exists():
                        named.add(word)
                except (OSError, RuntimeError, ValueError):
                    continue
    return named


def leaks(dest: Path, later: list[str], mirror: Path, source: Path) -> list[str]:
    """Every way the checkout at `dest` reaches a commit in `later`: what git shows, what a fetch brings, what the
    files under .git name. [] for a checkout with no path to the future."""
    found = []
    git_dir = dest / ".git"
    for path in git_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in {str(mirror), str(mirror.parent), mirror.stem, str(source), "file://"}:
                if needle.encode() in data:
                    found.append(f"{path.relative_to(dest)} names {needle}")
    for name in ("FETCH_HEAD", "objects/info/alternates", "objects/info/http-alternates", "packed-refs"):
        if (git_dir / name).exists():
            found.append(f".git/{name} exists")
    if git(dest, "remote").strip():
        found.append(f"remotes: {git(dest, 'remote').split()}")
    shown = set(git(dest, "log", "--all", "--reflog", "--format=%H").split())
    shown |= set(git(dest, "rev-list", "--all", "--reflog").split())
    shown |= set(run(dest, "fsck", "--unreachable", "--lost-found").stdout.split())
    shown |= set(git(dest, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split())
    found += [f"shown: {c}" for c in later if c in shown]
    attempts = [("fetch",), ("fetch", "--all"), ("fetch", "origin"), ("fetch", "--unshallow"), ("pull",),
                ("fetch", "FETCH_HEAD")]
    attempts += [("fetch", "--quiet", named, "+refs/*:refs/remotes/x/*") for named in sorted(_sources_named_in(git_dir))]
    for argv in attempts:
        run(dest, *argv)
        for c in later:
            if _has(dest, c):
                found.append(f"git {' '.join(argv)} brings {c}")
                break
    for c in later:
        if _has(dest, c):
            found.append(f"git cat-file -e {c} succeeds")
        if run(dest, "show", c).returncode == 0:
            found.append(f"git show {c} succeeds")
    return found


def test_no_git_command_in_the_agents_checkout_reaches_a_later_commit(history, tmp_path):
    cache, mirror, src, base, later = history
    dest = cache.checkout(REPO, base, tmp_path / "work", isolated=True)
    assert git(dest, "rev-parse", "HEAD").strip() == base
    assert "w + h" in (dest / "core.py").read_text()
    assert git(dest, "status", "--porcelain") == ""
    assert git(dest, "log", "--all", "--format=%H").split() == [base]
    assert leaks(dest, later, mirror, src) == []
    # nothing under objects/info (alternates) and one pack: the base commit's objects, copied
    assert [p.name for p in (dest / ".git" / "objects" / "info").iterdir()] == []
    assert git(dest, "count-objects", "-v").count("packs: 1") == 1


def test_the_agents_checkout_is_a_usable_repository(history, tmp_path):
    """Shallow, one commit: status, diff, blame, log, commit and the patch all work."""
    cache, mirror, src, base, later = history
    dest = cache.checkout(REPO, base, tmp_path / "work", isolated=True)
    assert run(dest, "fsck").returncode == 0
    assert git(dest, "rev-parse", "--is-shallow-repository").strip() == "true"
    assert git(dest, "blame", "core.py").count(base[:7]) == 2
    (dest / "core.py").write_text("def area(w, h):\n    return w * h\n")
    assert "+    return w * h" in git(dest, "diff")
    git(dest, "commit", "-qam", "agent's own")
    assert len(git(dest, "log", "--format=%H").split()) == 2


def test_the_same_checks_catch_a_checkout_that_can_reach_the_fix(history, tmp_path):
    """The evaluator's checkout borrows the mirror's objects (alternates), and a fetch-made checkout keeps
    FETCH_HEAD naming the mirror: both reach the fix, and `leaks` says how."""
    cache, mirror, src, base, later = history
    grading = cache.checkout(REPO, base, tmp_path / "grading")
    found = leaks(grading, later, mirror, src)
    assert any("alternates" in f for f in found) and any(f"cat-file -e {later[0]}" in f for f in found)
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    git(fetched, "init", "-q")
    git(fetched, "fetch", "--quiet", "--no-tags", "--depth", "1", f"file://{mirror}", base)
    git(fetched, "checkout", "-q", "--detach", base)
    assert _has(fetched, base) and not _has(fetched, later[0])  # the checkout itself holds only the base
    found = leaks(fetched, later, mirror, src)
    assert any("FETCH_HEAD" in f for f in found)
    assert any(f.startswith("git fetch") and "brings" in f for f in found)


def test_a_checkout_of_a_later_commit_does_not_reach_the_ones_after_it(history, tmp_path):
    cache, mirror, src, base, later = history
    fix, after = later
    dest = cache.checkout(REPO, fix, tmp_path / "work", isolated=True)
    assert "w * h" in (dest / "core.py").read_text()
    assert not _has(dest, base)  # its parent is not copied either
    assert leaks(dest, [base, after], mirror, src) == []
