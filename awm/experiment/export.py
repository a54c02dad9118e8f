"""A run as a submission folder for the SWE-bench experiments repository (github.com/SWE-bench/experiments, formerly
swe-bench/experiments), so it can be submitted as it is: `awm-tui export RUN DIR`.

What that repository documents, and where it was read (re-check before submitting: it changes):

- Its README (mirrors: github.scker.com/BloopAI/experiments, onlylabs.fyi's copy of kwaipilot/experiments): a
  submission is evaluation/<split>/<date>_<model>/ holding all_preds.jsonl, metadata.yaml, README.md,
  logs/<instance_id>/<evaluation artifacts> and trajs/ (reasoning traces); splits lite, verified, test, multilingual,
  multimodal.
- swebench.com/submit.html: all_preds.jsonl is the predictions (instance_id, model_name_or_path, model_patch);
  logs/<instance_id>/ holds what the harness writes: eval.sh, patch.diff, report.json, run_instance.log,
  test_output.txt; trajs/ holds one reasoning trace per instance with every step and the system's thoughts, in any
  readable form; metadata.yaml says how the entry is shown.
- checklist.md (github.com/SWE-bench/experiments/blob/main/checklist.md, via a mirror): the PR and README carry the
  output of `python -m analysis.get_results evaluation/<split>/<folder>`, a report link (also `info / report` in
  metadata.yaml) and the authors; the checklist: pass@1, no SWE-bench test knowledge (PASS_TO_PASS, FAIL_TO_PASS), no
  `hints` field, no web lookup of solutions; `system / attempts` in metadata.yaml ("1", or "2+" for best@k).
- analysis/get_results.py (read in the fork liauto-siada/SWE-bench-experiments): deletes every entry of the folder
  but preds.json, all_preds.jsonl, logs, metadata.yaml/.yml, trajs and README.md, and logs/<id>/run_instance.log and
  image_build_dir; then writes results/results.json {"no_generation": no logs/<id>/ or no patch.diff in it,
  "no_logs": no test_output.txt, "resolved": re-graded from test_output.txt}, results/resolved_by_repo.json
  {repo: {"resolved", "total"}} and results/resolved_by_time.json {year of created_at: {"resolved", "total"}}, both
  over every instance of the split.
- metadata.yaml of merged submissions (evaluation/verified/20251103_sonar-foundation-agent_claude-sonnet-4-5 as
  bench-explorer.vercel.app/spec quotes it; a third-party guide's template agrees): info {name, site, report,
  authors, logo}, assets {logs, trajs: s3://swe-bench-submissions/<split>/<folder>/logs|trajs}, tags {checked,
  model: [..], org: [..], os_model, os_system, system: {attempts}}.

So the folder written here is that layout: results/ is computed the way get_results.py computes it (over the run's
issues; get_results.py regenerates it over the split), an instance with an empty patch gets no logs/<id>/ (the
harness never runs one: no_generation), and one whose evaluation is missing gets logs/<id>/patch.diff alone
(no_logs). Nothing is read from the environment: the run's files are already scrubbed of secrets."""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from awm.agent.trajectory import ANSI  # the terminal's colour and mode escapes, noise in a document
from awm.errors import UserError
from awm.records import Experience, Status
from awm.run.store import RunState, RunStore

# what an export writes in DIR: with --force, these are replaced and anything else in DIR is kept (a logo, say)
WRITTEN = ("all_preds.jsonl", "metadata.yaml", "README.md", "logs", "trajs", "results")
S3 = "s3://swe-bench-submissions"
TODO = "TODO"
# leaderboard splits: the evaluation/<split> folder, the hub dataset's name ending, its size (the README's warning)
SPLITS = (("lite", "swe-bench_lite", 300), ("verified", "swe-bench_verified", 500),
          ("multilingual", "swe-bench_multilingual", 300), ("multimodal", "swe-bench_multimodal", 517),
          ("test", "swe-bench", 2294))
_INSTANCE = re.compile(r"^(?P<owner>.+?)__(?P<name>.+)-\d+$")  # SWE-bench ids: owner__name-number
_EVENT_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] [A-Z]+ ", re.M)  # an event in an issue's readable log
MEMORY_MARK = "# workflow memory in the system prompt:\n"  # awm.agent.runner's log header


@dataclass
class Entry:
    """What the leaderboard shows about the system, as the user gives it (flags); what is not given is a TODO."""

    name: str | None = None
    site: str | None = None
    org: str | None = None
    authors: str | None = None
    report: str | None = None


@dataclass
class Exported:
    """What an export wrote, for the command's summary."""

    folder: Path
    suggested_name: str  # <YYYYMMDD>_<model>, the folder name the experiments repository expects
    split: str | None  # the evaluation/<split> it belongs under; None when the run is not on a leaderboard split
    state: str
    issues: int  # the run's issues
    finished: int
    results: dict[str, list[str]]
    by_time: bool = False  # results/resolved_by_time.json written (every issue's created_at known)
    todo: list[str] = field(default_factory=list)  # metadata.yaml fields left for the user to fill
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be computed, and why
    test_knowledge: str = ""  # one sentence: whether memory learned from the gold tests (induction.success)
    leak_audit: dict = field(default_factory=dict)  # awm.experiment.leaks.run_audit's summary


def export_run(run_dir: Path, out_dir: Path, entry: Entry, force: bool = False,
               dataset: str | None = None) -> Exported:
    """Write the run at `run_dir` as a SWE-bench experiments submission folder at `out_dir` (built beside it and
    moved in at the end, so an interrupted export leaves no half folder).

    Args:
        run_dir: the run's folder.
        out_dir: the submission folder to make.
        entry: the submission's metadata (name, organisation, links).
        force: replace an existing `out_dir`.
        dataset: a hub name or file read for each issue's repo and created_at; without it only a run's local
            dataset file is (hub datasets are not fetched unless asked).

    Returns:
        What was written (Exported): the folder, the counts, the notes to read before submitting.

    Raises:
        UserError: the target is not empty (without `force`), is inside the run or holds it, its name is too long
            for the file system, or `dataset` cannot be read. (An unfinished run is exported with a warning.)
    """
    store = RunStore(run_dir.resolve())
    out_dir = out_dir.expanduser().resolve()
    _check_target(out_dir, store.dir, force)
    config = store.config()
    spec = config.get("spec") or {}
    provenance = config.get("provenance") or {}
    experiences = {e.instance_id: e for e in store.finished(repair=False)}
    planned = (provenance.get("dataset") or {}).get("instance_ids") or store.checkpoint().get("instance_ids") or []
    issues = list(dict.fromkeys([*planned, *sorted(experiences)]))
    state = str(store.state())
    model = str((spec.get("llm") or {}).get("model") or "unknown")
    split = leaderboard_split(spec.get("dataset") or {})
    suggested = f"{date.today():%Y%m%d}_{_slug(spec, model)}"  # the submission date, as the repository names it
    rows, rows_note = _dataset_rows(spec.get("dataset") or {}, dataset)
    result = Exported(folder=out_dir, suggested_name=suggested, split=split, state=state, issues=len(issues),
                      finished=len(experiences), results={})
    result.warnings += _warnings(spec, state, issues, experiences, split)
    result.test_knowledge, result.leak_audit = _test_knowledge(store.dir, spec, rows)

    staging = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _write_predictions(staging / "all_preds.jsonl", experiences, model)
        result.results = _write_all_logs(staging / "logs", store, experiences, issues)
        listed = {iid: name for name, ids in result.results.items() for iid in ids}
        (staging / "trajs").mkdir()
        for iid, experience in experiences.items():
            (staging / "trajs" / f"{iid}.md").write_text(
                trajectory(experience, store, len(issues), listed.get(iid, "not resolved")), encoding="utf-8")
        by_repo, by_time, time_note = _breakdowns(issues, set(result.results["resolved"]), rows, rows_note)
        _write_json(staging / "results" / "results.json", result.results)
        _write_json(staging / "results" / "resolved_by_repo.json", by_repo)
        result.by_time = by_time is not None
        if result.by_time:
            _write_json(staging / "results" / "resolved_by_time.json", by_time)
        else:
            result.notes.append(f"results/resolved_by_time.json is not written: {time_note}")
        metadata, result.todo = _metadata(config, entry, model, split, suggested)
        (staging / "metadata.yaml").write_text(metadata, encoding="utf-8")
        (staging / "README.md").write_text(_readme(config, entry, result, by_repo, experiences), encoding="utf-8")
        _move_in(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # what a failure left half-built
    return result


# ------------------------------------------------------------------ the target folder

def _check_target(out_dir: Path, run_dir: Path, force: bool) -> None:
    """DIR is the submission folder itself: new, or empty, or (--force) a previous export whose files are replaced."""
    if out_dir == run_dir or run_dir in out_dir.parents:
        raise UserError(f"export: {out_dir} is inside the run folder {run_dir}. Give a folder outside it, "
                        "e.g. ./20250101_awm-openhands_gpt-4o (the submission folder itself).")
    if any(run_dir == out_dir / name or out_dir / name in run_dir.parents for name in WRITTEN):
        raise UserError(f"export: the run folder {run_dir} is inside {out_dir}, where the export writes "
                        f"{', '.join(WRITTEN)}. Give another folder.")
    from awm.paths import check_destination

    # a file there or on the way, a name too long, a folder that cannot be written: refused before any work
    check_destination(out_dir, "export: DIR", fix="Give the path of the submission folder to make (a new "
                      "or empty folder you can write to, e.g. ./20250101_awm-openhands_gpt-4o).")
    if len(os.fsencode(out_dir.name)) > 255 - len(".partial") - 1:  # it is built beside, as .DIR.partial
        raise UserError(f"export: DIR {out_dir.name} is too long a name for the file system (the export "
                        "builds it beside as .DIR.partial, so at most 245 bytes), so nothing was written. Give a "
                        "shorter name, e.g. 20250101_awm-openhands_gpt-4o.")
    if out_dir.is_dir() and not force:
        present = sorted(p.name for p in out_dir.iterdir())
        if present:
            shown = ", ".join(present[:4]) + (" …" if len(present) > 4 else "")
            raise UserError(f"export: {out_dir} exists and is not empty ({shown}), so nothing was written. "
                            "Give a new or empty folder (the submission folder itself, named <YYYYMMDD>_<model>), or "
                            "add --force to replace a previous export there (its all_preds.jsonl, metadata.yaml, "
                            "README.md, logs/, trajs/ and results/ are rewritten; other files, a logo say, are kept).")


def _move_in(staging: Path, out_dir: Path) -> None:
    """The finished folder into place: renamed when DIR is new or empty, else (--force) entry by entry."""
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    for name in WRITTEN:
        target = out_dir / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        (staging / name).rename(target)
    staging.rmdir()


# ------------------------------------------------------------------ predictions, logs

def _write_predictions(path: Path, experiences: dict[str, Experience], model: str) -> None:
    """all_preds.jsonl: one prediction per finished issue (an empty patch too: pass@1 is one per instance), from the
    journal (the run's source of truth), as the run's predictions.jsonl writes them."""
    lines = [json.dumps({"instance_id": iid, "model_name_or_path": model, "model_patch": experiences[iid].diff_patch},
                        ensure_ascii=False) for iid in sorted(experiences)]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _write_all_logs(logs: Path, store: RunStore, experiences: dict[str, Experience],
                    issues: list[str]) -> dict[str, list[str]]:
    """logs/ and results.json's lists, as get_results.py reads that folder: an issue never run, or with an empty
    patch (the harness makes no logs for one), gets no logs/<id>/."""
    logs.mkdir()
    lists: dict[str, list[str]] = {"no_generation": [], "no_logs": [], "resolved": []}
    for iid in issues:
        experience = experiences.get(iid)
        if experience is None or not experience.diff_patch.strip():
            lists["no_generation"].append(iid)
            continue
        outcome = _write_logs(logs / iid, experience, store.eval_dir(iid))
        if outcome is not False:
            lists["no_logs" if outcome is None else "resolved"].append(iid)
    return {name: sorted(ids) for name, ids in lists.items()}


def _write_logs(dest: Path, experience: Experience, eval_dir: Path) -> bool | None:
    """logs/<id>/ as the harness leaves it: patch.diff, and what the evaluation kept (test_output.txt, report.json;
    eval.sh and run_instance.log when the SWE-bench harness graded it). Whether it resolved; None when there is no
    test output (get_results.py's no_logs)."""
    dest.mkdir(parents=True)
    (dest / "patch.diff").write_text(experience.diff_patch, encoding="utf-8")
    harness = _harness_dir(eval_dir, experience.instance_id)
    for name in ("test_output.txt", "report.json", "eval.sh", "run_instance.log"):
        source = next((d / name for d in (eval_dir, harness) if d is not None and (d / name).is_file()), None)
        if source is not None:
            shutil.copyfile(source, dest / name)
    if not (dest / "test_output.txt").is_file():
        return None
    try:
        report = json.loads((dest / "report.json").read_text(encoding="utf-8"))
        return bool(report[experience.instance_id]["resolved"])
    except (OSError, ValueError, KeyError, TypeError):
        return experience.status == Status.PASS


def _harness_dir(eval_dir: Path, iid: str) -> Path | None:
    """The harness's own log folder for the issue (eval/<id>/harness/<run id>/<model>/<id>), the latest if the issue
    was graded more than once."""
    found = sorted(eval_dir.glob(f"harness/*/*/{iid}"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


# ------------------------------------------------------------------ results/

def _dataset_rows(dataset_spec: dict, override: str | None) -> tuple[dict[str, dict], str]:
    """The dataset's records by instance id, for each issue's repo and created_at (the run does not keep them): from
    `override`, else from the run's dataset when it is a local file (read in a moment, no network). ({}, why not)
    when neither."""
    from awm.dataset import load_rows, resolve_name

    name = override or str(dataset_spec.get("name") or "")
    if not override:
        path = Path(resolve_name(name)).expanduser()
        if path.suffix.lower() not in (".json", ".jsonl", ".parquet"):
            return {}, (f"the run does not record each issue's created_at, and its dataset {name} is on the Hugging "
                        f"Face hub, which export does not contact unless asked: add --dataset {name}")
        if not path.is_file():
            return {}, (f"the run does not record each issue's created_at, and its dataset file {path} is gone: "
                        "give it with --dataset FILE")
    try:
        rows = load_rows(name, str(dataset_spec.get("split") or "test"))
    except UserError as exc:
        if override:
            raise UserError(f"export --dataset {override}: {exc.text}") from None
        return {}, f"the run's dataset {name} could not be read ({exc.text})"
    return {str(r["instance_id"]): r for r in rows if isinstance(r, dict) and "instance_id" in r}, ""


def _breakdowns(issues: list[str], resolved: set[str], rows: dict[str, dict],
                rows_note: str) -> tuple[dict, dict | None, str]:
    """resolved_by_repo and resolved_by_time over the run's issues, as get_results.py counts them over a split; by
    time is None (with the reason) unless every issue's created_at is known."""
    by_repo: dict[str, dict[str, int]] = {}
    by_year: dict[int, dict[str, int]] = {}
    undated = []
    for iid in issues:
        row = rows.get(iid) or {}
        counts = by_repo.setdefault(_repo(iid, row), {"resolved": 0, "total": 0})
        counts["total"] += 1
        counts["resolved"] += iid in resolved
        year = _year(row.get("created_at"))
        if year is None:
            undated.append(iid)
            continue
        counts = by_year.setdefault(year, {"resolved": 0, "total": 0})
        counts["total"] += 1
        counts["resolved"] += iid in resolved
    by_repo = dict(sorted(by_repo.items()))
    if not undated:
        return by_repo, {str(year): by_year[year] for year in sorted(by_year)}, ""
    if not rows:
        return by_repo, None, rows_note
    return by_repo, None, (f"{len(undated)} of the run's {len(issues)} issues have no created_at in the dataset "
                           f"(e.g. {undated[0]})")


def _repo(iid: str, row: dict) -> str:
    if row.get("repo"):
        return str(row["repo"])
    match = _INSTANCE.match(iid)
    return f"{match['owner']}/{match['name']}" if match else "unknown"


def _year(created_at) -> int | None:
    if not created_at:
        return None
    try:
        return datetime.fromisoformat(str(created_at).strip().replace(" ", "T").rstrip("Z")).year
    except ValueError:
        return None


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ metadata.yaml

def leaderboard_split(dataset_spec: dict) -> str | None:
    """The evaluation/<split> folder a run belongs under: from its dataset's hub name and split; None for anything
    else (a local file, the demo, a dev split)."""
    name = str(dataset_spec.get("name") or "").lower().rstrip("/")
    if str(dataset_spec.get("split") or "test") != "test":
        return None
    return next((folder for folder, ending, _ in SPLITS if name == ending or name.endswith("/" + ending)), None)


def _slug(spec: dict, model: str) -> str:
    """<system>_<model> for the folder name: the model without its provider prefix, as the leaderboard names it."""
    system = "awm-openhands" if ((spec.get("memory") or {}).get("enabled", "on") != "off") else "openhands"
    return f"{system}_{re.sub(r'[^A-Za-z0-9._-]+', '-', short_model(model)).strip('-')}"


def short_model(model: str) -> str:
    return model.rsplit("/", 1)[-1] or model


def entry_name(entry: Entry, spec: dict, model: str) -> str:
    """The leaderboard entry's name: --name, else the system and the model."""
    memory_on = (spec.get("memory") or {}).get("enabled", "on") != "off"
    return entry.name or f"{'AWM (Agent Workflow Memory) + ' if memory_on else ''}OpenHands + {short_model(model)}"


def _metadata(config: dict, entry: Entry, model: str, split: str | None, folder: str) -> tuple[str, list[str]]:
    """metadata.yaml in the layout of merged submissions, every field the run knows filled, the rest a TODO the user
    sees (and the command lists); the run's provenance as a header comment (the schema has no field for it)."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    info = CommentedMap([
        ("name", entry_name(entry, config.get("spec") or {}, model)),
        ("site", entry.site or f"{TODO}: a URL with more about the system"),
        ("report", entry.report or f"{TODO}: the technical report or blog post (arXiv, blog) describing the system"),
        ("authors", entry.authors or f"{TODO}: the people who made the submission, e.g. Ada Lovelace, Alan Turing"),
        ("logo", f"{TODO}: a URL of the logo (or add logo.png to this folder)"),
    ])
    where = f"{S3}/{split or TODO + '-split'}/{folder}"
    assets = CommentedMap([("logs", f"{where}/logs"), ("trajs", f"{where}/trajs")])
    tags = CommentedMap([
        ("checked", False),
        ("model", CommentedSeq([short_model(model)])),
        ("org", CommentedSeq([entry.org or f"{TODO}: your organisation"])),
        ("os_model", False),
        ("os_system", False),
        ("system", CommentedMap([("attempts", 1)])),
    ])
    tags.yaml_add_eol_comment("set by the SWE-bench team once they reproduce the result", "checked")
    tags.yaml_add_eol_comment("true if the model's weights are open", "os_model")
    tags.yaml_add_eol_comment("true if the system (awm-tui, as you ran it) is open source", "os_system")
    tags.yaml_add_eol_comment("one attempt per instance (pass@1)", "system")
    assets.yaml_add_eol_comment("where the SWE-bench team hosts logs/ and trajs/", "logs")
    root = CommentedMap([("info", info), ("assets", assets), ("tags", tags)])
    root.yaml_set_start_comment("\n".join(_provenance_lines(config, comment=True)))
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    text = io.StringIO()
    yaml.dump(root, text)
    todo = [f"info.{k}" for k, v in info.items() if str(v).startswith(TODO)]
    todo += ["tags.org"] if not entry.org else []
    todo += ["assets (the split)"] if split is None else []
    return text.getvalue(), todo


def _provenance_lines(config: dict, comment: bool) -> list[str]:
    """What produced the run, from config.json (the run's own record; absent for runs made before awm-tui kept one)."""
    provenance = config.get("provenance") or {}
    awm = provenance.get("awm_tui") or {}
    spec = config.get("spec") or {}
    dataset = spec.get("dataset") or {}
    lines = [f"run folder {config.get('run_id', '?')}, made {config.get('created_at', '?')}, exported "
             f"{datetime.now():%Y-%m-%d %H:%M}"]
    if awm:
        commit = f", commit {awm['commit'][:12]}{' with uncommitted changes' if awm.get('dirty') else ''}" \
            if awm.get("commit") else ""
        lines.append(f"awm-tui {awm.get('version') or '?'}{commit}"
                     f"{' (recorded when the run was resumed)' if provenance.get('recorded_on_resume') else ''}")
    else:
        lines.append(f"awm-tui version: not recorded by this run (made before runs kept it); exported with "
                     f"awm-tui {_installed_version()}")
    if provenance.get("python") or provenance.get("packages"):
        packages = ", ".join(f"{k} {v}" for k, v in (provenance.get("packages") or {}).items() if v)
        lines.append(f"Python {provenance.get('python', '?')}{'; ' + packages if packages else ''}")
    lines.append(f"dataset {dataset.get('name', '?')} (split {dataset.get('split', '?')})"
                 + (f", rows fingerprint {(provenance.get('dataset') or {}).get('fingerprint', '')[:16]}"
                    if (provenance.get("dataset") or {}).get("fingerprint") else ""))
    if comment:
        head = ["metadata.yaml for the SWE-bench experiments repository, written by `awm-tui export`.",
                f"Replace every {TODO} before opening the pull request (see README.md and the repository's "
                "checklist.md)."]
        return head + lines
    return lines


def _installed_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("awm-tui")
    except metadata.PackageNotFoundError:
        return "(unknown)"


# ------------------------------------------------------------------ README.md

def _warnings(spec: dict, state: str, issues: list[str], experiences: dict, split: str | None) -> list[str]:
    """What makes this export not a complete leaderboard submission as it stands."""
    warnings = []
    if state != RunState.COMPLETED:
        running = " (an engine is running it now)" if state == RunState.RUNNING else ""
        warnings.append(f"the run is {state}{running}: {len(experiences)} of its {len(issues)} issues are finished. "
                        "The finished ones are exported; the others are listed as no_generation, and the README "
                        "says so. Resume the run and export again for a complete submission.")
    dataset = spec.get("dataset") or {}
    size = next((n for folder, _, n in SPLITS if folder == split), None)
    if split is None:
        warnings.append(f"the run's dataset {dataset.get('name', '?')} (split {dataset.get('split', '?')}) is not a "
                        "SWE-bench leaderboard split (lite, verified, test, multilingual, multimodal: their test "
                        "split), so metadata.yaml's assets name no split.")
    elif size and len(issues) < size:
        narrowed = [f"{k} {dataset[k]}" for k in ("repo_filter", "instance_ids", "limit") if dataset.get(k)]
        warnings.append(f"the run covers {len(issues)} of the split's {size} instances"
                        f"{' (' + '; '.join(narrowed) + ')' if narrowed else ''}. The leaderboard scores the whole "
                        "split: get_results.py counts every instance without logs as no_generation.")
    return warnings


def _readme(config: dict, entry: Entry, result: Exported, by_repo: dict, experiences: dict) -> str:
    spec = config.get("spec") or {}
    model = str((spec.get("llm") or {}).get("model") or "unknown")
    results = result.results
    rate = f"{100 * len(results['resolved']) / result.issues:.2f}%" if result.issues else "-"
    cost = sum(e.cost for e in experiences.values())
    dataset = spec.get("dataset") or {}
    lines = [
        f"# {entry_name(entry, spec, model)}", "",
        f"{TODO}: describe the system in a paragraph and link the technical report (the experiments repository "
        "expects one for every submission).", "",
        f"Made with awm-tui ({TODO}: a link to its source, if public): the OpenHands coding agent working through "
        "the SWE-bench issues one at a time, with an Agent Workflow Memory it learns as it goes: reusable workflows "
        "induced from its earlier successes are added to the agent's system prompt for the issues after them. Each "
        "trajectory in trajs/ shows the workflows the model was given.", "",
        "## Results", "",
        "| | |", "| --- | --- |",
        f"| Model | `{model}` |",
        f"| Dataset | `{dataset.get('name', '?')}` (split `{dataset.get('split', '?')}`)"
        f"{f', evaluation/{result.split}' if result.split else ''} |",
        f"| Issues in the run | {result.issues} ({result.finished} finished; run {result.state}) |",
        f"| Resolved | {len(results['resolved'])} of {result.issues} ({rate}) |",
        f"| No generation (not run, or an empty patch) | {len(results['no_generation'])} |",
        f"| No logs (a patch, but no test output) | {len(results['no_logs'])} |",
        f"| Agent model cost | ${cost:.2f} over the finished issues |", "",
    ]
    if result.warnings:
        lines += ["**Not a complete submission as exported:**", ""] + [f"- {w}" for w in result.warnings] + [""]
    lines += ["### Resolved by repository", "", "| repository | resolved | total |", "| --- | --- | --- |"]
    lines += [f"| {repo} | {c['resolved']} | {c['total']} |" for repo, c in by_repo.items()] + [""]
    backend = (spec.get("evaluation") or {}).get("backend", "?")
    lines += [
        "### How these numbers were computed", "",
        f"From the run's own grading (evaluation backend `{backend}`): an issue is resolved when its "
        "logs/<id>/report.json says so. results/ follows analysis/get_results.py's rules over the run's issues: "
        "no_generation is an issue with no logs/<id>/ (not run, or an empty patch, which the harness does not run), "
        "no_logs one with a patch but no test_output.txt. get_results.py re-grades every test_output.txt against the "
        "whole split and rewrites results/; paste its output into the pull request."
        + (" The `local` backend runs the tests on the grading machine, not in the harness's images: check that "
           "get_results.py agrees." if backend == "local" else ""),
    ]
    lines += ["", *[f"- {note}" for note in result.notes], ""] if result.notes else [""]
    lines += _leak_lines(result)
    lines += ["## Setup", ""] + [f"- {line}" for line in _provenance_lines(config, comment=False) + _settings(spec)]
    lines += ["", "## Checklist", "", "From the experiments repository's checklist.md, answered from the run's "
              "settings (confirm each before submitting):", ""] + _checklist(spec)
    lines += ["", "## This folder", "",
              "- `all_preds.jsonl`: one prediction per finished issue (instance_id, model_name_or_path, model_patch)",
              "- `logs/<instance_id>/`: patch.diff, test_output.txt, report.json (eval.sh and run_instance.log when "
              "the SWE-bench harness graded it)",
              "- `trajs/<instance_id>.md`: the agent's trajectory: the workflows injected into its prompt, the system "
              "prompt, every message, action and observation, the final patch",
              "- `results/`: results.json, resolved_by_repo.json"
              + (", resolved_by_time.json" if result.by_time else ""),
              "- `metadata.yaml`: how the entry is shown on the leaderboard", ""]
    return "\n".join(lines)


def _test_knowledge(run_dir: Path, spec: dict, rows: dict[str, dict]) -> tuple[str, dict]:
    """Whether the run used test knowledge, in one plain sentence, and the memory leak audit's summary (over the
    dataset rows export read; none: a one-line note, never a failure)."""
    from awm.experiment import leaks

    source = leaks.success_source(spec)
    if source is None:
        sentence = "This run used no test knowledge: its memory was off (no workflows learned or given)."
    elif leaks.uses_tests(spec):
        sentence = (f"This run used test knowledge: with `induction.success: {source}`, a workflow entered memory "
                    "only when SWE-bench's hidden tests (FAIL_TO_PASS, PASS_TO_PASS) passed on an earlier issue, so "
                    "the later issues' prompts depend on those tests' results. The leaderboard's checklist asks for "
                    "no use of the gold tests: as run, this is not a clean leaderboard submission (report it as a "
                    "study of memory learned with test feedback), and a run with `induction.success: judge` or "
                    "memory off is.")
    else:
        sentence = (f"This run used no test knowledge: with `induction.success: {source}`, memory learned from an "
                    "LLM judge's verdicts, which see no tests.")
    audit = leaks.run_audit(run_dir, spec, list(rows.values()) if rows else None)
    if audit["hits"] is None and "awm-tui memory RUN audit" in audit["note"]:
        audit["note"] = audit["note"].replace("`awm-tui memory RUN audit` reads it.",
                                              "give it with --dataset (or run `awm-tui memory RUN audit`).")
    return sentence, audit


def _leak_lines(result: Exported) -> list[str]:
    audit = result.leak_audit
    if audit.get("hits") is None:
        found = f"not run: {audit.get('note') or 'no dataset rows to audit against.'}"
    else:
        flagged = audit.get("entries_flagged") or []
        found = (f"{audit['hits']} hit(s) in {len(flagged)} entr{'y' if len(flagged) == 1 else 'ies'}"
                 + (f" ({', '.join(flagged)})" if flagged else "")
                 + (f"; {audit['note']}" if audit.get("note") else ""))
    return ["## Test knowledge and memory leaks", "", result.test_knowledge, "",
            f"Memory leak audit (`awm-tui memory RUN audit`: entries naming a test of the run's issues, or a file or "
            f"function a later issue's gold patch changes): {found}", ""]


def _settings(spec: dict) -> list[str]:
    agent, memory, induction = spec.get("agent") or {}, spec.get("memory") or {}, spec.get("induction") or {}
    lines = [f"agent {agent.get('kind', '?')}, at most {agent.get('max_iterations', '?')} steps and "
             f"{agent.get('timeout_minutes', '?')} minutes per issue"]
    if memory.get("enabled", "on") != "off":
        frozen = " (frozen: a finished run's final memory given, nothing learned)" \
            if memory.get("enabled") == "frozen" else ""
        lines.append(f"workflow memory{frozen}: retrieval {memory.get('retrieval', '?')} "
                     f"(top {memory.get('top_k', '?')}, {memory.get('budget_tokens', '?')} tokens), "
                     f"induction every {induction.get('trigger', '?')} successes, "
                     f"success by {induction.get('success', '?')}"
                     f"{', pitfalls from failures' if induction.get('from_failures') else ''}"
                     f"{', started from ' + str(memory['start_from']) if memory.get('start_from') else ''}")
    else:
        lines.append("workflow memory off (the baseline: no workflows learned or given)")
    return lines


def _checklist(spec: dict) -> list[str]:
    memory, induction, agent = spec.get("memory") or {}, spec.get("induction") or {}, spec.get("agent") or {}
    memory_on = memory.get("enabled", "on") != "off"  # on, or frozen (a replay: its memory learned as its source's)
    by_tests = memory_on and "tests" in str(induction.get("success", "tests")).split("+")
    lines = ["- [x] Is a pass@1 submission (does not attempt the same task instance more than once): awm-tui makes "
             "one attempt per issue (an attempt cut short by a stop is discarded unevaluated and redone on resume)."]
    if by_tests:
        lines.append(f"- [ ] Does not use SWE-bench test knowledge (`PASS_TO_PASS`, `FAIL_TO_PASS`): **not as run**. "
                     f"With `induction.success: {induction.get('success', 'tests')}` a workflow enters memory only "
                     "when an earlier issue's hidden tests passed, so later issues' prompts depend on those tests' "
                     "results. A run with `induction.success: judge`, or `memory: off`, does not.")
    else:
        lines.append("- [x] Does not use SWE-bench test knowledge (`PASS_TO_PASS`, `FAIL_TO_PASS`): "
                     + ("memory is learned from an LLM judge's verdicts, which see no tests." if memory_on
                        else "memory is off."))
    hints = agent.get("include_hints")
    lines.append(f"- [{' ' if hints else 'x'}] Does not use the `hints` field in SWE-bench"
                 + (": **not as run** (`agent.include_hints: true`)." if hints else "."))
    lines.append("- [ ] Does not have web-browsing OR has taken steps to prevent lookup of SWE-bench solutions via "
                 "web-browsing: to confirm. awm-tui gives the agent no browser, but its terminal reaches the network "
                 "unless the workspace blocks it.")
    if memory_on and memory.get("start_from"):
        lines.append(f"- Memory started from `{memory['start_from']}`: say in the report what it was learned from.")
    return lines


# ------------------------------------------------------------------ trajs/

def trajectory(experience: Experience, store: RunStore, total: int, listed: str) -> str:
    """One issue's trajectory, readable: what the model saw (the workflows injected, the system prompt, the issue)
    and did (every thought, action and observation), from logs/instance_<id>.trajectory.json (every event); from the
    readable log, or the recorded steps, when that is missing. `listed`: where results.json puts the issue."""
    iid = experience.instance_id
    log = _read(store.log_path(iid))
    events = _events(store.trajectory_path(iid))
    lines = [f"# {iid}", "", "| | |", "| --- | --- |", f"| Verdict | {experience.status.value} (the run's grading) |",
             f"| In results.json | {listed} |"]
    if experience.reason:
        lines.append(f"| Why | {_cell(experience.reason)} |")
    injected = ": " + ", ".join(experience.workflow_ids) if experience.workflow_ids else ""
    lines += [f"| Issue | {experience.position or '?'} of {total} in the run's order |",
              f"| Steps | {experience.steps} |",
              f"| Model use | ${experience.cost:.4f}, {experience.prompt_tokens} prompt + "
              f"{experience.completion_tokens} completion tokens |",
              f"| Time | {experience.duration_s:.0f} s |",
              f"| Memory | round {experience.memory_round}, {len(experience.workflow_ids)} injected "
              f"({experience.memory_tokens} tokens){injected} |",
              "", "## Workflows injected into the prompt", ""]
    block = _memory_block(log)
    if block:
        lines += ["Appended to the agent's system prompt for this issue, verbatim:", "", fence(block, "markdown")]
    elif experience.workflow_ids:
        lines.append(f"The run recorded these entries as injected: {', '.join(experience.workflow_ids)} (the issue's "
                     "log, which holds their text, is missing).")
    else:
        lines.append("None: the memory was empty, off, or had nothing relevant for this issue.")
    lines.append("")
    if events:
        lines += _conversation(events, iid)
    elif log:
        lines += ["## Agent log", "", f"From logs/instance_{iid}.log (the trajectory file with every event is "
                  "missing; long observations are cut in this log):", "", fence(log)]
    else:
        lines += ["## Steps", "", "From the run's journal (the agent's log files are missing; observations are "
                  "condensed):" if experience.history else "None recorded (the agent's log files are missing).", ""]
        for n, step in enumerate(experience.history, 1):
            lines += [f"### Step {n}: {step.tool}", "", step.thought, "", fence(step.action), "", "Observation:", "",
                      fence(step.observation), ""]
    lines += ["", "## Final patch", "", fence(experience.diff_patch, "diff") if experience.diff_patch.strip()
              else "(empty: the agent changed nothing)", ""]
    return "\n".join(lines)


def _conversation(events: list[dict], iid: str) -> list[str]:
    lines: list[str] = []
    step = 0
    for event in events:
        kind = event.get("kind")
        if kind == "SystemPromptEvent":
            static = (event.get("system_prompt") or {}).get("text", "")
            dynamic = (event.get("dynamic_context") or {}).get("text", "")
            lines += ["## System prompt", "", _details(f"the agent's system prompt ({len(static)} characters)", static)]
            if dynamic:
                lines += ["", _details("its dynamic part (the workflows above are in it)", dynamic)]
            lines += ["", "## Conversation", "", f"Every event of logs/instance_{iid}.trajectory.json, in order.", ""]
        elif kind == "MessageEvent":
            message = event.get("llm_message") or {}
            role = str(message.get("role"))
            who = {"user": "User", "assistant": "Agent"}.get(role, role)
            lines += [f"### {who}", "", fence(_texts(message.get("content"))), ""]
        elif kind == "ActionEvent":
            step += 1
            lines += _action(event, step)
        elif kind == "ObservationEvent":
            observation = event.get("observation") or {}
            code = observation.get("exit_code")
            lines += [f"Observation{f' (exit code {code})' if code is not None else ''}:", "",
                      fence(ANSI.sub("", _texts(observation.get("content")))), ""]
        elif kind == "AgentErrorEvent":
            lines += [f"Error ({event.get('tool_name') or 'agent'}):", "", fence(str(event.get("error", ""))), ""]
        elif kind == "ConversationErrorEvent":
            lines += [f"Conversation error {event.get('code', '')}:", "", fence(str(event.get("detail", ""))), ""]
        elif kind in ("Condensation", "CondensationSummaryEvent") and event.get("summary"):
            lines += ["### History condensed", "", "The agent's earlier events were replaced by this summary:", "",
                      fence(str(event["summary"])), ""]
    return lines


def _action(event: dict, step: int) -> list[str]:
    tool = event.get("tool_name") or "?"
    lines = [f"### Step {step}: {tool}", ""]
    thought = _texts(event.get("thought"))
    if thought:
        lines += [thought, ""]
    if event.get("reasoning_content"):
        lines += [_details("the model's reasoning", str(event["reasoning_content"])), ""]
    action = {k: v for k, v in (event.get("action") or {}).items()
              if k not in ("kind", "security_risk", "summary") and v not in (None, "", False, [], {})}
    if tool == "terminal" and "command" in action:
        return lines + [fence(str(action.pop("command")), "bash")] + _arguments(action) + [""]
    return lines + _arguments(action) + [""]


def _arguments(args: dict) -> list[str]:
    """An action's arguments: short ones as a list, text (a file's content, an edit) as blocks."""
    short, blocks = [], []
    for key, value in args.items():
        if isinstance(value, str) and ("\n" in value or len(value) > 120):
            blocks += ["", f"{key}:", "", fence(value)]
        else:
            short.append(f"- {key}: {_inline(value if isinstance(value, str) else json.dumps(value))}")
    return short + blocks


def _memory_block(log: str) -> str:
    """The workflow memory the agent's system prompt carried, as awm.agent.runner writes it at the log's head."""
    start = log.find(MEMORY_MARK)
    if start < 0:
        return ""
    rest = log[start + len(MEMORY_MARK):]
    ends = [m.start() for m in (_EVENT_LINE.search(rest),) if m] + [i for i in (rest.find("# agent status:"),)
                                                                     if i >= 0]
    return rest[:min(ends, default=len(rest))].strip("\n")


def _texts(content) -> str:
    """The text of an SDK content list ([{"type": "text", "text": ...}])."""
    if isinstance(content, str):
        return content
    return "\n".join(str(c.get("text", "")) for c in content or [] if isinstance(c, dict) and c.get("text"))


def fence(text: str, lang: str = "") -> str:
    """A fenced code block that holds any text: its fence is longer than any run of backticks inside."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{lang}\n{text.rstrip(chr(10))}\n{marks}"


def _inline(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    marks = "`" * (longest + 1)
    return f"{marks} {text} {marks}" if longest else f"`{text}`"


def _details(summary: str, text: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{fence(text)}\n\n</details>"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _events(path: Path) -> list[dict]:
    """The issue's every event (the SDK's dumps), or [] when the file is missing or unreadable."""
    try:
        events = json.loads(_read(path) or "[]")
    except ValueError:
        return []
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
