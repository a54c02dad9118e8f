"""The repository cache: one bare mirror per repository, cloned once, fetched when a commit is missing, and fresh
checkouts at a base commit that do not show the future; the agent's patch taken from a working tree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from awm.errors import UserError
from awm.repos import GitError, RepoCache, diff_against, remove
from support.git import DATED
from support.git import git as _git


def git(cwd: Path, *args: str) -> str:
    return _git(cwd, *args, env=DATED)  # fixed dates: the same commits every run

REPO = "acme/widgets"


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def source(tmp_path) -> tuple[Path, str, str]:
    """A real repository with two commits: the base, and the fix that comes after it."""
    repo = tmp_path / "source"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = commit(repo, {"widgets/core.py": "def area(w, h):\n    return w + h\n", "README": "widgets\n"}, "base")
    fix = commit(repo, {"widgets/core.py": "def area(w, h):\n    return w * h\n"}, "Fix area: multiply")
    git(repo, "tag", "v1.0")
    return repo, base, fix


@pytest.fixture
def cache(tmp_path, source) -> RepoCache:
    return RepoCache(tmp_path / "cache", {REPO: str(source[0])})


def test_mirror_is_a_bare_clone_made_once(cache, source):
    repo, base, fix = source
    mirror = cache.mirror(REPO)
    assert mirror == cache.root / "acme__widgets.git"
    assert git(mirror, "rev-parse", "--is-bare-repository").strip() == "true"
    assert git(mirror, "rev-parse", "refs/heads/main").strip() == fix
    marker = mirror / "marker-from-the-test"
    marker.write_text("still here")
    inode = mirror.stat().st_ino
    assert cache.mirror(REPO) == mirror
    assert cache.mirror(REPO, base) == mirror  # a commit it has: no fetch, no clone
    RepoCache(cache.root, cache.sources).checkout(REPO, base, cache.root.parent / "co")  # another cache object too
    assert marker.read_text() == "still here" and mirror.stat().st_ino == inode
    assert not [p for p in cache.root.iterdir() if p.name.startswith(".clone-")]  # no leftovers of the clone


def test_checkout_is_the_base_commit_with_the_future_out_of_sight(cache, source, tmp_path):
    repo, base, fix = source
    dest = cache.checkout(REPO, base, tmp_path / "work")
    assert dest == tmp_path / "work"
    assert (dest / "widgets" / "core.py").read_text() == "def area(w, h):\n    return w + h\n"
    assert (dest / "README").read_text() == "widgets\n"
    assert git(dest, "rev-parse", "HEAD").strip() == base
    assert git(dest, "status", "--porcelain") == ""
    # nothing after the base through history, refs, tags or reflog
    assert git(dest, "log", "--all", "--format=%H").split() == [base]
    assert git(dest, "rev-list", "--all", "--reflog").split() == [base]
    assert "refs/" not in git(dest, "branch", "-a", "--format=%(refname)")  # only "(HEAD detached at ...)"
    assert git(dest, "tag").strip() == "" and git(dest, "for-each-ref").strip() == ""
    assert "Fix area" not in git(dest, "log", "--all", "--oneline")
    # the objects are borrowed from the mirror, not copied
    alternates = (dest / ".git" / "objects" / "info" / "alternates").read_text().strip()
    assert Path(alternates) == cache.mirror(REPO) / "objects"
    assert not list((dest / ".git" / "objects" / "pack").glob("*.pack"))
    # the agent can commit in it (identity set) without touching the mirror
    (dest / "new.txt").write_text("x\n")
    git(dest, "add", "new.txt")
    subprocess.run(["git", "commit", "-q", "-m", "agent"], cwd=dest, check=True, capture_output=True,
                   env={k: v for k, v in DATED.items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))})
    assert git(cache.mirror(REPO), "rev-parse", "refs/heads/main").strip() == fix


def test_no_git_command_in_the_agents_checkout_reveals_the_future_fix(cache, source, tmp_path):
    repo, base, fix = source
    dest = cache.checkout(REPO, base, tmp_path / "work", isolated=True)
    assert "w + h" in (dest / "widgets" / "core.py").read_text()
    assert not (dest / ".git" / "objects" / "info" / "alternates").exists()
    unreachable = git(dest, "fsck", "--unreachable", "--no-reflogs")
    all_objects = git(dest, "cat-file", "--batch-all-objects", "--batch-check")
    assert fix not in unreachable and fix not in all_objects
    assert subprocess.run(["git", "show", fix], cwd=dest, capture_output=True).returncode != 0


def test_checkout_of_a_later_commit_and_again_into_the_same_folder(cache, source, tmp_path):
    repo, base, fix = source
    dest = tmp_path / "work"
    cache.checkout(REPO, fix, dest)
    assert "w * h" in (dest / "widgets" / "core.py").read_text()
    (dest / "left-over.txt").write_text("from the last attempt")
    cache.checkout(REPO, base, dest)  # a fresh tree: what was there is gone
    assert not (dest / "left-over.txt").exists()
    assert "w + h" in (dest / "widgets" / "core.py").read_text()
    assert git(dest, "log", "--all", "--format=%H").split() == [base]


def test_a_commit_missing_from_the_mirror_is_fetched_from_the_source(cache, source, tmp_path):
    repo, base, fix = source
    mirror = cache.mirror(REPO)
    marker = mirror / "marker-from-the-test"
    marker.write_text("x")
    later = commit(repo, {"widgets/extra.py": "EXTRA = 1\n"}, "later work")
    git(repo, "checkout", "-q", "-b", "feature")
    on_branch = commit(repo, {"widgets/feature.py": "F = 2\n"}, "on a new branch")
    dest = cache.checkout(REPO, later, tmp_path / "later")
    assert (dest / "widgets" / "extra.py").read_text() == "EXTRA = 1\n"
    assert not (dest / "widgets" / "feature.py").exists()
    assert cache.checkout(REPO, on_branch, tmp_path / "branch") / "widgets" / "feature.py"
    assert (tmp_path / "branch" / "widgets" / "feature.py").read_text() == "F = 2\n"
    assert marker.exists()  # fetched into the same mirror, not cloned again
    assert git(dest, "log", "--all", "--format=%H").split() == [later, fix, base]


def test_a_commit_that_is_nowhere_is_a_git_error_naming_it(cache, source, tmp_path):
    missing = "1234567890abcdef1234567890abcdef12345678"
    with pytest.raises(GitError) as err:
        cache.checkout(REPO, missing, tmp_path / "work")
    assert missing in str(err.value) and str(source[0]) in str(err.value)
    assert not (tmp_path / "work").exists()


def test_a_source_that_is_not_a_git_repository_is_a_user_error(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "file.txt").write_text("not a repo")
    for where in (plain, tmp_path / "does-not-exist"):
        cache = RepoCache(tmp_path / "cache", {REPO: str(where)})
        with pytest.raises(UserError) as err:
            cache.mirror(REPO)
        message = str(err.value.at("specs/x.yaml"))
        assert f"repos.{REPO}" in message and "specs/x.yaml" in message and str(where) in message
        assert ("not a git repository" if where.exists() else "does not exist") in message
        assert not (tmp_path / "cache" / "acme__widgets.git").exists()


def test_a_local_source_that_is_gone_is_a_user_error_even_with_its_mirror_cached(cache, source, tmp_path):
    """A typo or a moved clone must not run against what was cloned before."""
    repo, base, fix = source
    cache.checkout(REPO, base, tmp_path / "work")  # cached
    moved = repo.rename(tmp_path / "moved")
    for again in (cache, RepoCache(cache.root, cache.sources)):
        with pytest.raises(UserError) as err:
            again.checkout(REPO, base, tmp_path / "work", isolated=True)
        assert err.value.field == f"repos.{REPO}" and "does not exist" in str(err.value) and str(repo) in str(err.value)
    assert RepoCache(cache.root, {REPO: str(moved)}).mirror(REPO, base) == cache.root / "acme__widgets.git"


def test_a_url_source_is_not_checked_once_its_mirror_is_cached(source, tmp_path):
    repo, base, fix = source
    cache = RepoCache(tmp_path / "cache", {REPO: f"file://{repo}"})
    cache.mirror(REPO, base)
    repo.rename(tmp_path / "gone")  # offline, as far as the cache can tell
    assert cache.checkout(REPO, base, tmp_path / "work", isolated=True).is_dir()


def test_a_url_that_cannot_be_cloned_is_a_user_error_and_leaves_nothing(tmp_path):
    cache = RepoCache(tmp_path / "cache", {REPO: f"file://{tmp_path}/nowhere.git"})
    with pytest.raises(UserError) as err:
        cache.mirror(REPO)
    assert f"repos.{REPO}" in str(err.value) and "cloning" in str(err.value)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["acme__widgets.git.lock"]  # the lock file only


def test_a_bare_repository_is_a_valid_source(source, tmp_path):
    repo, base, fix = source
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    cache = RepoCache(tmp_path / "cache2", {REPO: str(bare)})
    dest = cache.checkout(REPO, fix, tmp_path / "work")
    assert "w * h" in (dest / "widgets" / "core.py").read_text()


def test_the_default_source_is_github():
    assert RepoCache(Path("/nowhere")).source("django/django") == "https://github.com/django/django.git"
    assert RepoCache(Path("/nowhere"), {"a/b": "/src/b"}).source("a/b") == "/src/b"


# ---------------------------------------------------------------- the agent's patch


def test_diff_against_has_edits_new_and_deleted_files_and_no_bytecode(cache, source, tmp_path):
    repo, base, fix = source
    dest = cache.checkout(REPO, base, tmp_path / "work")
    assert diff_against(dest, base) == ""
    (dest / "widgets" / "core.py").write_text("def area(w, h):\n    return w * h\n")
    (dest / "widgets" / "shapes").mkdir()
    (dest / "widgets" / "shapes" / "square.py").write_text("SIDES = 4\n")
    (dest / "README").unlink()
    for junk in ("__pycache__/top.cpython-312.pyc", "widgets/__pycache__/core.cpython-312.pyc",
                 "widgets/stray.pyc", ".pytest_cache/v/cache/lastfailed", "widgets/.pytest_cache/README.md"):
        (dest / junk).parent.mkdir(parents=True, exist_ok=True)
        (dest / junk).write_bytes(b"\x00junk")
    patch = diff_against(dest, base)
    files = [line.split(" b/")[-1] for line in patch.splitlines() if line.startswith("diff --git")]
    assert sorted(files) == ["README", "widgets/core.py", "widgets/shapes/square.py"]
    assert "+    return w * h" in patch and "+SIDES = 4" in patch and "deleted file mode" in patch
    assert "pycache" not in patch and ".pyc" not in patch and "pytest_cache" not in patch
    # the patch applies to a fresh checkout and gives the same tree
    again = cache.checkout(REPO, base, tmp_path / "again")
    subprocess.run(["git", "apply", "-"], cwd=again, input=patch, text=True, check=True)
    assert diff_against(again, base) == patch


def test_diff_against_is_relative_to_the_base_even_after_the_agent_commits(cache, source, tmp_path):
    repo, base, fix = source
    dest = cache.checkout(REPO, base, tmp_path / "work")
    (dest / "widgets" / "core.py").write_text("def area(w, h):\n    return w * h\n")
    git(dest, "commit", "-q", "-am", "agent commit")
    (dest / "notes.txt").write_text("after the commit\n")
    patch = diff_against(dest, base)
    assert "+    return w * h" in patch and "+after the commit" in patch


def test_remove_deletes_a_checkout_and_ignores_a_missing_one(cache, source, tmp_path):
    repo, base, fix = source
    dest = cache.checkout(REPO, base, tmp_path / "work")
    (dest / "widgets" / "__pycache__").mkdir()
    remove(dest)
    assert not dest.exists()
    remove(dest)  # nothing there: no error
    assert cache.mirror(REPO).exists()  # the mirror is untouched


# ---------------------------------------------------------------- the run's work root


@pytest.fixture
def temp_dir(tmp_path, monkeypatch) -> Path:
    """The system temp dir, for work roots: a folder of the test's own."""
    import tempfile

    folder = tmp_path / "systemp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_work_root_is_fixed_length_names_its_run_and_is_removed_when_the_run_closes(temp_dir, tmp_path, cache,
                                                                                          source):
    import json

    from awm.agent.workspace import LocalWorkspace, remove_work_root, work_root

    roots = [work_root(tmp_path / name) for name in ("a", "a-much-longer-run-name-" * 5)]
    assert roots[0] == work_root(tmp_path / "a") and roots[0] != roots[1]
    assert {len(str(r)) for r in roots} == {len(str(temp_dir)) + len("/awm-") + 10}
    owner = json.loads((roots[0] / ".awm-run.json").read_text())
    assert owner == {"run_dir": str(tmp_path / "a"), "pid": os.getpid()}
    remove_work_root(roots[1])
    assert not roots[1].exists()
    workspace = LocalWorkspace(cache, roots[0])
    cache.checkout(REPO, source[1], roots[0] / "issue-1" / "widgets", isolated=True)  # as an issue left it
    workspace.close()
    assert not roots[0].exists()
    workspace.close()  # again: nothing there, no error


def test_the_sweep_removes_the_work_roots_no_process_works_on(temp_dir, tmp_path):
    import fcntl
    import json
    import time

    from awm.agent.workspace import sweep_work_roots, work_root

    def root(name: str, owner: dict | None, age_s: float = 0) -> Path:
        path = temp_dir / name
        path.mkdir()
        (path / "issue-1").mkdir()
        if owner is not None:
            (path / ".awm-run.json").write_text(json.dumps(owner))
        if age_s:
            os.utime(path, (time.time() - age_s,) * 2)
        return path

    held_run, idle_run = tmp_path / "held", tmp_path / "idle"
    held_run.mkdir()
    idle_run.mkdir()
    (idle_run / ".lock").write_text("pid 1")
    killed = root("awm-0000000001", {"run_dir": str(idle_run), "pid": _dead_pid()})
    gone = root("awm-0000000002", {"run_dir": str(tmp_path / "deleted"), "pid": _dead_pid()})
    held = root("awm-0000000003", {"run_dir": str(held_run), "pid": _dead_pid()})
    live = root("awm-0000000004", {"run_dir": str(idle_run), "pid": os.getpid()}, age_s=7 * 86400)
    legacy_old = root("awm-0000000005", None, age_s=2 * 86400)
    legacy_new = root("awm-0000000006", None)
    other = root("awm-notours", None, age_s=2 * 86400)
    with open(held_run / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # an engine runs it now
        assert sorted(sweep_work_roots()) == [killed, gone, legacy_old]
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert held.exists() and live.exists() and legacy_new.exists() and other.exists()
    # a run's start sweeps (keeping its own root, even though a dead process made it)
    mine = work_root(tmp_path / "mine")
    (mine / ".awm-run.json").write_text(json.dumps({"run_dir": str(tmp_path / "mine"), "pid": _dead_pid()}))
    assert work_root(tmp_path / "mine") == mine and mine.exists()
    assert not held.exists()  # its run is not held any more: swept by those starts


def test_a_base_commit_missing_from_the_source_stops_the_run_naming_the_repo_field(source, tmp_path):
    from awm.agent.workspace import LocalWorkspace
    from awm.records import Issue

    workspace = LocalWorkspace(RepoCache(tmp_path / "cache", {REPO: str(source[0])}), tmp_path / "work")
    issue = Issue(instance_id="acme__app-1", repo=REPO, base_commit="0" * 40, problem_statement="x")
    with pytest.raises(UserError) as err:
        workspace.open(issue)
    assert err.value.field == f"repos.{REPO}"
    assert "acme__app-1" in str(err.value) and "0" * 40 in str(err.value) and str(source[0]) in str(err.value)
    assert not (tmp_path / "work" / "acme__app-1").exists() or not any((tmp_path / "work" / "acme__app-1").iterdir())
