"""Starting a run or resuming one: the spec it runs with, everything that can be refused refused before a run folder
is made or touched, then the parts assembled and the engine made."""

from __future__ import annotations

from pathlib import Path

from awm.dataset import load_issues
from awm.errors import UserError, located
from awm.paths import repo_cache_root
from awm.records import Issue
from awm.repos import GitError, RepoCache
from awm.run import events as ev
from awm.run import provenance
from awm.run.loop import Controls, Engine
from awm.run.parts import assemble, memory_sources
from awm.run.store import RunStore
from awm.spec import RunSpec, load_spec, packaged_label, packaged_spec, recorded_value, settings_layer

# Flags that say how a run is shown or where it is written, not what it is: not carried over to its resumes.
NOT_CARRIED = ("output_dir", "verbose")
PATH_FLAGS = ("llm", "dataset.name")  # flags whose value may be a file: recorded absolute (a resume may run elsewhere)


def launch_spec(spec_path: str | None, resume: str | None, overrides: dict | None = None) -> RunSpec:
    """The spec of a new run, or of the run being resumed: its recorded spec file unless one is given, with the
    flags the run was started with (`--dataset mini.jsonl --split dev` are not asked again; a flag given now wins),
    and its recorded issue limit (a run started with --limit 6 resumes with 6 issues; a new --limit N still wins)."""
    overrides = {key: _absolute(key, value) for key, value in (overrides or {}).items()}
    packaged = False
    if resume:
        store = RunStore.open(resume)
        overrides = {**{k: v for k, v in store.recorded_flags().items() if k not in NOT_CARRIED}, **overrides}
        limit = store.recorded_limit()
        if limit is not None and "dataset.limit" not in overrides:
            overrides["dataset.limit"] = limit
        if not spec_path:
            spec_path = store.spec_path()
            packaged = "llm_config_file" in overrides  # only a run without a spec records it (_without_a_spec)
            if not spec_path:
                raise UserError(f"--resume {resume}: the run does not record its spec file; give it: "
                                f"`awm-tui --resume {resume} SPEC`.")
            if not Path(spec_path).is_file():
                raise UserError(
                    f"--resume {resume}: the run was started from the spec {spec_path} (recorded in "
                    f"{store.dir / 'config.json'}), which is no longer there. If it moved, give its new path: "
                    f"`awm-tui --no-ui --resume {resume} SPEC` (a spec that changes what the run means is refused)."
                )
    if not spec_path:
        return _without_a_spec(overrides)
    spec = load_spec(spec_path, overrides, label=packaged_label(spec_path) if packaged else None)
    spec.packaged = packaged
    spec.flags = {k: v for k, v in overrides.items() if k not in NOT_CARRIED and v is not None}
    return spec


def _without_a_spec(overrides: dict) -> RunSpec:
    """The design's command line as it was written (its section 4.1: flags and a config.toml, no spec): the flags
    over the packaged defaults (specs/django.yaml), the model from --llm-config's [llm.NAME] table of ./config.toml
    (or ~/.openhands/config.toml), as OpenHands reads it. What a machine must change in those defaults and no flag
    reaches (no Docker: `[awm.agent] workspace = "local"`) goes in that file's [awm] table, laid under the flags.
    The table's settings are recorded with the flags, so a resume runs with them without reading the file again."""
    from awm.model.tables import read_toml, seed_config_candidates

    if "llm" not in overrides:
        raise UserError("no run spec given. Give one (`awm-tui --no-ui specs/demo.yaml`), or name the model with "
                        "--llm-config to run on awm-tui's defaults (specs/django.yaml), as the design's command line "
                        "does: `awm-tui --no-ui --llm-config llm.eval_gpt4 --limit 10` uses the [llm.eval_gpt4] "
                        "table of ./config.toml. See `awm-tui --help`.")
    name = overrides["llm"]
    candidates = seed_config_candidates()
    config = next((path for path in candidates if path.is_file()), None)
    if config is None:
        searched = ", ".join(map(str, candidates))
        raise UserError(f"--llm-config {name}: no config.toml found (searched {searched}). A run without a spec reads "
                        "its model from a [llm.NAME] table of ./config.toml, as OpenHands does: write one there "
                        f"(`[llm.{str(name).removeprefix('llm.')}]` with `model = \"openai/gpt-4o\"` and "
                        "`api_key = \"...\"`), or give a run spec.")
    config = config.resolve()
    table = read_toml(config).get("awm")
    layer = settings_layer(table if table is not None else {}, f"{config} [awm]", config.parent, config)
    path = packaged_spec()
    spec = load_spec(path, overrides, layer=layer, label=packaged_label(path))
    spec.packaged = True
    recorded = {key: str(config) if key == "llm_config_file" else recorded_value(spec, key) for key in layer}
    spec.flags = {k: v for k, v in {**recorded, **overrides}.items() if k not in NOT_CARRIED and v is not None}
    return spec


def _absolute(key: str, value):
    """A flag's value, a relative path to an existing file made absolute (recorded so, it resolves from anywhere)."""
    if key in PATH_FLAGS and isinstance(value, str) and value and not Path(value).is_absolute():
        path = Path(value).expanduser()
        if path.is_file():
            return str(path.resolve())
    return value


def preflight(spec: RunSpec) -> None:
    """What can be refused before anything is written: a Docker backend with no Docker engine is a message now,
    not an ERROR at issue 1; so is `agent.sandbox: bwrap` where bubblewrap cannot run. Run once per start
    (prepare_engine): the store and the parts do not check again.

    Args:
        spec: the run's spec.

    Raises:
        UserError: naming the field to change (agent.workspace, agent.sandbox, agent.servers, evaluation.backend...).
    """
    if spec.agent.workspace == "local":
        from awm.agent import sandbox

        sandbox.choose(spec.agent.sandbox, "local", spec.agent.terminal)  # asked once per process; refuses `bwrap`
    if spec.agent.workspace == "docker":
        from awm.agent import docker

        docker.check_available(spec)
    if spec.agent.workspace in ("remote", "remote-api"):
        from awm.agent import remote

        remote.check_available(spec)
    if spec.evaluation.backend == "swebench-docker":
        from awm.grading.harness import HarnessEvaluator

        HarnessEvaluator(Path("."), "preflight", 1, spec.llm.model).check_available()
    if spec.evaluation.backend == "swebench-modal":
        from awm.grading.modal import ModalEvaluator

        ModalEvaluator(Path("."), "preflight", 1, spec.llm.model).check_available()


def open_run(spec: RunSpec, resume: str | None = None, output_dir: str | None = None) -> RunStore:
    """The store for a new run, or for the run being resumed (refused if the spec changes its meaning). What
    `preflight` checks is the caller's to check first (prepare_engine does): not asked again here."""
    with located(spec.label):
        if resume:
            store = RunStore.open(resume)
            store.check_resumable(spec)
            store.verify(seeded=bool(spec.memory.start_from))  # damaged state refused now, before anything starts
            return store
        return RunStore.create(spec, output_dir)


def prepare_engine(spec: RunSpec, subscribers: list[ev.Subscriber], resume: str | None = None,
                   output_dir: str | None = None, controls: Controls | None = None, *,
                   issues: list[Issue] | None = None, check_model: bool = True) -> Engine:
    """An engine for a new or resumed run, its parts assembled. Whatever the user must fix is a UserError naming
    the spec file and field; an unreadable dataset or a resume that changes the run is refused before the run
    folder is made or touched. `issues` replaces the spec's dataset (the Python API's explicit issue list).
    The preflight runs once, here: neither the store nor the parts check again; the repository cache is made once,
    for the base commits' check and the parts."""
    with located(spec.label):
        preflight(spec)
        issues = load_issues(spec.dataset) if issues is None else issues
        check_harness_knows(spec.evaluation.backend, issues)  # before the run folder is made or an agent runs
        cache = RepoCache(repo_cache_root(), spec.repos)
        check_base_commits(spec, issues, cache)
        sources = memory_sources(spec)  # a warm start or baseline that names nothing is refused before the folder
        store = open_run(spec, resume, output_dir)
        store.record_provenance(provenance.record(spec, issues), resumed=bool(resume))
        stopping = controls is not None and controls.stop_requested.is_set()
        parts = assemble(spec, store, issues, check_model=check_model and not stopping, sources=sources, cache=cache,
                         checked=True)
    return Engine(parts, store, subscribers, controls)


def check_harness_knows(backend: str, issues: list[Issue]) -> None:
    """The official harness (`swebench-docker`, `swebench-modal`) grades only the repositories and versions it has a
    test spec for: any other is refused now, naming them, not an ERROR at every issue after its agent has run."""
    if backend not in ("swebench-docker", "swebench-modal") or not issues:
        return
    from awm.images.specs import unknown_to_harness

    unknown = unknown_to_harness((issue.repo, issue.version) for issue in issues)
    if not unknown:
        return
    parts = [f"{repo} (version {', '.join(versions)})" if versions else f"{repo} (any version)"
             for repo, versions in unknown.items()]
    count = sum(1 for i in issues if i.repo in unknown and (not unknown[i.repo] or str(i.version) in unknown[i.repo]))
    shown = "; ".join(parts[:5]) + (f"; and {len(parts) - 5} more" if len(parts) > 5 else "")
    raise UserError(
        f"`{backend}` grades with the official SWE-bench harness, which has no test spec for {shown}, so "
        f"{count} of the {len(issues)} issue(s) could not be graded. Set `evaluation.backend: local` (tests run "
        "here, with a recipe from `evaluation.recipes` for repositories swebench does not know), or use a dataset "
        "of repositories and versions SWE-bench knows (e.g. princeton-nlp/SWE-bench_Lite).",
        field="evaluation.backend",
    )


def check_base_commits(spec: RunSpec, issues: list[Issue], cache: RepoCache | None = None) -> None:
    """Every issue's base commit must be in its repository: checked now in the mirrors already cached (one git call
    per repository; a missing commit is fetched once), so a wrong `repos` source is a message naming the issues and
    the source, not an ERROR per issue blamed on something else. A mirror not cloned yet is checked at issue 1.
    `cache`: the run's repository cache (made from the spec when not given)."""
    import subprocess

    if spec.agent.workspace == "docker" and spec.evaluation.backend != "local":
        return  # the checkouts are the SWE-bench images': the mirrors are not used
    cache = cache or RepoCache(repo_cache_root(), spec.repos)
    by_repo: dict[str, list[Issue]] = {}
    for issue in issues:
        by_repo.setdefault(issue.repo, []).append(issue)
    for repo, repo_issues in by_repo.items():
        mirror = cache.root / (repo.replace("/", "__") + ".git")
        if not (mirror / "HEAD").exists():
            continue
        missing = _missing_commits(mirror, [i.base_commit for i in repo_issues], subprocess)
        if missing:
            try:
                cache.mirror(repo, next(iter(missing)))  # fetches from the source once
            except GitError:
                pass
            missing = _missing_commits(mirror, list(missing), subprocess)
        if missing:
            bad = [i for i in repo_issues if i.base_commit in missing]
            names = ", ".join(f"{i.instance_id} (base commit {i.base_commit[:12]})" for i in bad[:3])
            raise UserError(
                f"{names}{f' and {len(bad) - 3} more' if len(bad) > 3 else ''}: the base commit is not in the "
                f"repository {cache.source(repo)} (fetched again to be sure). Set `repos.{repo}` to a clone or URL "
                "that has these commits (the original repository, not a fork or a shallow copy), or fix the "
                "records' `base_commit` in the dataset.", field=f"repos.{repo}"
            )


def _missing_commits(mirror: Path, commits: list[str], subprocess) -> set[str]:
    wanted = list(dict.fromkeys(c for c in commits if c))
    proc = subprocess.run(["git", "cat-file", "--batch-check"], cwd=mirror, capture_output=True, text=True,
                          input="".join(f"{c}^{{commit}}\n" for c in wanted))
    if proc.returncode != 0:
        return set()  # cannot tell: the checkout at the issue reports it
    lines = proc.stdout.splitlines()
    return {c for c, line in zip(wanted, lines) if line.endswith(" missing") or line.startswith(("missing", "error"))}
