"""The Python API of the user's design (section 4.2), a thin face over the engine:

    from awm import AWMConfig, AWMOnlineLoop, load_django_issues

    config = AWMConfig(llm_config_name="llm.eval_gpt4", induction_trigger_count=5, max_workflows=30)
    issues = load_django_issues(limit=20)
    result = AWMOnlineLoop(config).run(issues)
    print(result.statistics["success_rate"], len(result.workflows))

AWMConfig takes the design's flat names and every field of a run spec (its sections as mappings: `llm`, `agent`,
`dataset`, `evaluation`, `induction`, `repos`, ...); it is validated exactly as a spec file is. A run made through the
API is an ordinary run folder: the app and `awm-tui --resume` open it."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, make_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from awm import atomic, runfiles
from awm.dataset import load_issues
from awm.errors import UserError, located
from awm.records import Experience, Issue, Workflow
from awm.run import events as ev
from awm.run.launch import prepare_engine
from awm.run.store import RunStore
from awm.spec import ALIASES, DatasetSpec, RunSpec, as_written, read_spec_file, spec_from_mapping, top_level

if TYPE_CHECKING:
    from awm.run.loop import Engine

# Each of the design's flat names and the place in a spec's sections that holds the same setting (None: the whole
# field). A configuration holds a setting under one name at a time (AWMConfig.__setattr__).
_SAME_SETTING: dict[str, tuple[str, str | None]] = {
    **{flat: (target.split(".")[0], target.split(".", 1)[1] if "." in target else None)
       for flat, target in ALIASES.items()},
    "skip_evaluation": ("evaluation", "backend"),
}
_UNSET = object()

@dataclass
class _Config:
    """A run's configuration. Unset fields (None) take the spec's defaults; a model must be given, by
    `llm_config_name` (a [llm.NAME] table of an OpenHands config.toml) or `llm` (inline settings).

    The design's names come first; then every other top-level field of a run spec, derived from the spec's
    dataclasses (config_class): `name`, `llm` (a mapping, or a table's name), `llm_config_file`, the sections as
    mappings (`agent`, `dataset`, `repos`, `evaluation`, `induction`, `memory` (or on | off | frozen), `budget`),
    `max_consecutive_errors`, `workers`, `max_staleness`..."""

    # the design's names (its section 4.2): fixed, so written here
    llm_config_name: str | None = None
    agent_class: str | None = None
    max_iterations: int | None = None
    dataset_name: str | None = None
    split: str | None = None
    repo_filter: str | list[str] | None = None
    induction_trigger_count: int | None = None
    max_workflows: int | None = None
    output_dir: str | None = None
    checkpoint_interval: int | None = None
    skip_evaluation: bool | None = None
    verbose: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_built", True)

    def __setattr__(self, name: str, value: Any) -> None:
        """A setting set after the configuration is made (`config = AWMConfig.load(...)`, then
        `config.induction_trigger_count = 1`) replaces the value it had under its other name (`induction.trigger`):
        the later word wins, whichever name each was given under. Without this both would be kept, and the run
        refused as naming the setting twice. Both names given at once (to the constructor, or in one file) are still
        refused: there is no later word."""
        if getattr(self, "_built", False) and value is not None:
            if name in _SAME_SETTING:
                section, key = _SAME_SETTING[name]
                held = getattr(self, section)
                if key is None:
                    object.__setattr__(self, section, None)
                elif isinstance(held, dict) and key in held and not (name == "skip_evaluation" and value is False
                                                                    and held[key] != "none"):
                    object.__setattr__(self, section, {k: v for k, v in held.items() if k != key})  # a copy
            for flat, (section, key) in _SAME_SETTING.items():
                if section == name and (key is None or (isinstance(value, dict) and key in value)):
                    object.__setattr__(self, flat, None)
        object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, in a spec's shape (what `save` writes and a YAML spec could hold). A setting
        held under both names after an edit in place (`config.induction["trigger"] = 1` on a file that says
        `induction_trigger_count: 5`) is the edited one."""
        doc = {k: v for k, v in asdict(self).items() if v is not None and k != "source"}
        loaded = getattr(self, "_loaded", None)
        if loaded is None:
            return doc
        for flat, (section, key) in _SAME_SETTING.items():
            held = doc.get(section)
            if flat not in doc or key is None or not isinstance(held, dict) or key not in held or doc[flat] is False:
                continue  # (skip_evaluation: false contradicts no backend)
            section_edited = held[key] != (loaded.get(section) or {}).get(key, _UNSET)
            flat_edited = doc[flat] != loaded.get(flat, _UNSET)
            if section_edited and not flat_edited:
                del doc[flat]
            elif flat_edited and not section_edited:
                doc[section] = {k: v for k, v in held.items() if k != key}
        return doc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """A configuration from its fields (what `to_dict` gives).

        Args:
            data: field -> value: the design's names, or any top-level field of a run spec.

        Returns:
            The configuration (not validated yet: `to_spec` does that).

        Raises:
            UserError: a name that is no field, listing the valid ones.
        """
        names = {f.name for f in fields(cls)} - {"source"}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UserError(f"AWMConfig: unknown field(s) {', '.join(unknown)}. Use the design's names "
                            f"({', '.join(ALIASES)}, output_dir, checkpoint_interval, skip_evaluation, verbose) "
                            "or a run spec's fields (llm, agent, dataset, repos, evaluation, induction, memory, ...).")
        return cls(**{k: v for k, v in data.items() if k in names})

    def save(self, path: str | Path) -> None:
        """As JSON (what `load` reads back), written atomically.

        Args:
            path: the file to write.
        """
        atomic.write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """From a YAML run spec, a JSON file written by `save`, or a run's config.json (the spec it ran with).

        Args:
            path: the file.

        Returns:
            The configuration, remembering what the file said (a setting changed later replaces it under either
            of its names).

        Raises:
            UserError: the file cannot be read, or holds a field that is no configuration's.
        """
        path = Path(path).expanduser()
        if path.suffix.lower() in (".yaml", ".yml"):
            data = _plain(read_spec_file(path))
        else:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UserError(f"{path}: cannot be read as a configuration ({exc}). Give a YAML spec, a file "
                                "written by AWMConfig.save, or a run's config.json.") from None
            if isinstance(data, dict) and "spec" in data and "fingerprint" in data:
                data = _from_recorded(data["spec"])
        config = cls.from_dict(data)
        config.__setattr__("source", str(path))  # a field of config_class's
        object.__setattr__(config, "_loaded", copy.deepcopy(config.to_dict()))  # what the file said (to_dict)
        return config

    def to_spec(self) -> RunSpec:
        """The validated run spec, checked exactly as a spec file is.

        Returns:
            The run spec (relative paths read from the YAML file's folder, if loaded from one, else the working
            directory).

        Raises:
            UserError: a mistake, naming the field and the fix (and the file it was loaded from, if any).
        """
        doc = self.to_dict()
        if isinstance(doc.get("llm"), str) and "llm_config_name" in doc:
            raise UserError("AWMConfig: both `llm` and `llm_config_name` name the model; keep one.")
        source = getattr(self, "source", None)  # a field of config_class's
        if source and source.endswith((".yaml", ".yml")):
            return spec_from_mapping(doc, source, Path(source).resolve().parent, path=source)
        return spec_from_mapping(doc, "AWMConfig")


def config_class() -> type[_Config]:
    """AWMConfig: the design's names (_Config), then every other top-level field of a run spec as the spec's
    dataclasses declare it (awm.spec.top_level), each None by default (the spec's default). A field added to the
    spec is a field here too.

    Returns:
        The dataclass.
    """
    other: list[tuple[str, Any, Any]] = []
    for name, hint, is_section in top_level():
        if name in _DESIGN:
            continue
        # a section is a mapping; `llm` may name a [llm.NAME] table instead, `memory` be on | off | frozen
        kind = (dict | str if name in ("llm", "memory") else dict) if is_section else hint
        other.append((name, kind | None, field(default=None)))
    other.append(("source", str | None, field(default=None, repr=False, compare=False)))  # the file it came from
    return make_dataclass("AWMConfig", other, bases=(_Config,), namespace={"__doc__": _Config.__doc__},
                          module=__name__)


_DESIGN = {f.name for f in fields(_Config)}
if TYPE_CHECKING:
    class AWMConfig(_Config):
        """(For type checkers: the spec's fields, added at run time by config_class, typed loosely.)"""

        source: str | None

        def __init__(self, **settings: Any) -> None: ...

        def __getattr__(self, name: str) -> Any: ...
else:
    AWMConfig = config_class()


@dataclass
class AWMRunResult:
    experiences: list[Experience] = field(default_factory=list)
    workflows: list[Workflow] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)
    run_dir: str = ""
    outcome: str = ""  # completed | paused | aborted
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"experiences": [e.to_dict() for e in self.experiences], "workflows": [w.to_dict() for w in
                self.workflows], "statistics": self.statistics}

    def save(self, path: str | Path) -> None:
        atomic.write_json(Path(path), self.to_dict())


class AWMOnlineLoop:
    """The online loop of the design over awm-tui's engine: `run(issues)` processes them one at a time, learns
    workflows as it goes, and returns the experiences, the workflows and the statistics."""

    def __init__(self, config: AWMConfig, subscribers: list[Callable[[ev.Event], None]] | None = None):
        self.config = config
        self.spec = config.to_spec()
        self.subscribers = list(subscribers or [])
        if self.spec.verbose and not subscribers:
            self.subscribers.append(_print_progress)
        self.engine: Engine | None = None

    def run(self, issues: list[Issue] | None = None, resume_from: str | Path | None = None) -> AWMRunResult:
        """Run the online loop to its end (or a pause, a stop, a budget, an abort).

        Args:
            issues: the issues, in order (default: the configuration's dataset); they become the run's
                `instance_ids`, so a resume with other issues is refused.
            resume_from: a run's checkpoint.json or its folder, to go on where it stopped (finished issues are
                not redone).

        Returns:
            The experiences, the workflows, the statistics, the run's folder and how it ended.

        Raises:
            UserError: a mistake to fix (the spec, the model, the key, a resume that does not match), naming the
                configuration's file or `AWMConfig`.
        """
        spec = self.spec
        if issues is not None:
            # The issue list is part of what the run is: a resume with other issues is refused.
            spec.dataset = DatasetSpec(**{**asdict(spec.dataset), "instance_ids": [i.instance_id for i in issues],
                                          "limit": None})
        resume = None
        if resume_from is not None:
            target = Path(resume_from).expanduser()
            resume = str(target.parent if target.name == runfiles.CHECKPOINT else target)
        with located(spec.path or "AWMConfig"):
            engine = self.engine = prepare_engine(spec, self.subscribers, resume=resume, output_dir=spec.output_dir,
                                                  issues=issues)
            finished = engine.run()
        stats = finished.stats
        return AWMRunResult(
            experiences=list(engine.experiences),
            workflows=list(engine.memory.workflows),
            statistics={
                "total_processed": stats.processed,
                "total_success": stats.passed,
                "success_rate": stats.success_rate,
                "workflows_learned": stats.workflows,
                "buffer_size": len(engine.buffer.experiences),
                "elapsed_seconds": stats.elapsed_s,
                "config": self.config.to_dict(),
                **{k: v for k, v in stats.to_dict().items() if k != "success_rate"},
            },
            run_dir=str(engine.store.dir),
            outcome=str(finished.outcome),
            message=finished.message,
        )

    def pause(self) -> None:
        if self.engine is not None:
            self.engine.pause()

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()


def load_django_issues(dataset_name: str = "princeton-nlp/SWE-bench", split: str = "test",
                       repo_filter: str | list[str] = "django/django", limit: int | None = None) -> list[Issue]:
    """SWE-bench issues of a repository (django/django by default), in a stable order.

    Args:
        dataset_name: a hub name or a local .json/.jsonl/.parquet file (or `builtin:minibench`, the demo's).
        split: the dataset's split.
        repo_filter: a repository (owner/name) or a list of them.
        limit: at most this many (the first by id).

    Returns:
        The issues.

    Raises:
        UserError: the dataset cannot be read or has no such issues, naming `load_django_issues`.
    """
    filters = [repo_filter] if isinstance(repo_filter, str) else list(repo_filter)
    with located("load_django_issues"):
        return load_issues(DatasetSpec(name=dataset_name, split=split, repo_filter=filters, limit=limit))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _from_recorded(spec: dict) -> dict:
    """A run's recorded spec (config.json) as configuration fields: secrets, the resolved source and derived
    values left out."""
    data = {k: v for k, v in spec.items() if k not in ("path",) and v is not None}
    llm = {k: v for k, v in (data.get("llm") or {}).items() if v is not None and k not in ("api_key", "source")}
    data["llm"] = llm
    for name in ("agent", "dataset", "evaluation", "budget", "memory"):
        if isinstance(data.get(name), dict):  # by the names a spec file gives them (memory's start_from: from)
            data[name] = as_written(name, {k: v for k, v in data[name].items() if v is not None})
    if isinstance(data.get("induction"), dict):
        induction = {k: v for k, v in data["induction"].items() if v is not None}
        if isinstance(induction.get("llm"), dict):
            induction["llm"] = {k: v for k, v in induction["llm"].items()
                                if v is not None and k not in ("api_key", "source")}
        data["induction"] = induction
    return data


def _print_progress(event: ev.Event) -> None:
    if isinstance(event, ev.IssueFinished):
        s = event.stats
        print(f"[{event.index}/{event.total}] {event.instance_id} {event.status.value}  success {s.passed}/"
              f"{s.evaluated}  workflows {s.workflows}", file=sys.stderr, flush=True)
    elif isinstance(event, ev.RunFinished):
        print(f"awm: {event.outcome}: {event.message}; outputs in {event.run_dir}", file=sys.stderr, flush=True)


__all__ = ["AWMConfig", "AWMOnlineLoop", "AWMRunResult", "RunStore", "load_django_issues"]
