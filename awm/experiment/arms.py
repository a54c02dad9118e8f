"""An experiment: one spec run under several arms (e.g. memory on and off), each with one or more seeds, every
(arm, seed) a normal resumable run inside one experiment folder, then the arms compared (awm.experiment.compare).

    <experiment>/experiment.json       the plan: spec, arms and their spec fields, seeds, the runs' folders
    <experiment>/runs/<arm>-seed<k>/   each run's folder (an ordinary run: resumable, listed by the run picker)
    <experiment>/report/               the comparison: report.md, report.html, the plots

The runs go seed by seed (seed 1's arms, then seed 2's), so a stopped experiment has balanced arms to compare so far.
A seed sets `dataset.seed`: with `dataset.order: shuffle` each seed takes the issues in another order (the arms of one
seed in the same order, so they pair); with another order the seeds are replicates (they differ where the model
samples). Resuming an experiment resumes its unfinished runs and skips its completed ones."""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from awm import atomic
from awm.errors import UserError
from awm.paths import home
from awm.spec import FIELDS

PLAN = "experiment.json"
FORMAT = 1
# short names for the fields an arm usually varies
ARM_FIELDS = {"memory": "memory.enabled", "retrieval": "memory.retrieval", "merge": "memory.merge",
              "success": "induction.success", "trigger": "induction.trigger", "model": "llm.model",
              "workers": "workers", "order": "dataset.order"}


@dataclass
class Arm:
    name: str  # e.g. "memory=on"; the first arm is the reference
    fields: dict[str, str]  # spec field -> value, e.g. {"memory.enabled": "on"}

    @property
    def slug(self) -> str:
        """The arm in a folder name: memory=on,retrieval=all -> memory-on_retrieval-all."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.name.replace(",", "_").replace("=", "-")).strip("-")


@dataclass
class PlannedRun:
    arm: str
    seed: int
    dir: Path
    replay_of: Path | None = None  # a replay (--replay): the folder of the arm's run it replays
    withhold: str | None = None  # an ablation (--ablate): the entry withheld from that run's frozen memory
    issues: tuple[str, ...] = ()  # an ablation's issues: those the replay gave the entry


REPLAY_SUFFIX = "-replay"


@dataclass
class Experiment:
    dir: Path
    spec_path: str
    arms: list[Arm]
    seeds: int
    overrides: dict = field(default_factory=dict)  # spec fields set for every arm (--limit, --order, --workers)
    created_at: str = ""
    name: str = "experiment"  # the spec's name: the runs are named <name>-<arm>-seed<k>
    replay_arms: list[str] = field(default_factory=list)  # --replay: the memory arms whose runs are replayed
    ablate: str = ""  # --ablate: top:K or ID,ID (awm.experiment.ablation), after every run and replay

    # ---- the plan
    def runs(self) -> list[PlannedRun]:
        """Every run, seed by seed: seed 1's arms, then the replays of its memory arms (--replay: each after the
        run it replays, which is completed by then), then seed 2's, ..."""
        planned = []
        for seed in range(1, self.seeds + 1):
            online = [PlannedRun(arm.name, seed, self.dir / "runs" / f"{arm.slug}-seed{seed}") for arm in self.arms]
            planned += online
            planned += [PlannedRun(run.arm, seed, run.dir.with_name(run.dir.name + REPLAY_SUFFIX), replay_of=run.dir)
                        for run in online if run.arm in self.replay_arms]
        return planned

    def replay_dirs(self) -> list[Path]:
        """The replays' folders (--replay), seed by seed."""
        return [r.dir for r in self.runs() if r.replay_of is not None]

    def ablation_runs(self) -> list[PlannedRun]:
        """--ablate's runs, known once the replays are completed (which entries their replays gave, to which
        issues): for each replay in plan order, each entry chosen, the run of its source without it. The same
        completed replays give the same list, so a resumed experiment finds the runs it had started."""
        if not self.ablate:
            return []
        from awm.experiment import ablation
        from awm.experiment.runs import read_run
        from awm.run.store import RunState, RunStore

        choice = ablation.parse(self.ablate)
        planned = []
        for replay in self.runs():
            source = replay.replay_of
            if source is None:
                continue
            store = RunStore(replay.dir)
            if not store.config_path.is_file() or store.state() != RunState.COMPLETED:
                continue
            for entry, issues in ablation.choose(read_run(replay.dir), choice):
                folder = source.with_name(ablation.folder_name(source, entry))
                planned.append(PlannedRun(replay.arm, replay.seed, folder, replay_of=source, withhold=entry,
                                          issues=tuple(issues)))
        return planned

    def run_overrides(self, run: PlannedRun) -> dict:
        arm = next(a for a in self.arms if a.name == run.arm)
        return {**self.overrides, **arm.fields, "dataset.seed": run.seed, "name": f"{self.name}-{run.dir.name}"}

    def arm_dirs(self) -> list[tuple[str, list[Path]]]:
        """Each arm's run folders, seed by seed: what compare pairs (replicate k of each arm with the reference's)."""
        return [(arm.name, [r.dir for r in self.runs() if r.arm == arm.name and r.replay_of is None])
                for arm in self.arms]

    @property
    def report_dir(self) -> Path:
        return self.dir / "report"

    # ---- the file
    def save(self) -> None:
        atomic.write_json(self.dir / PLAN, {
            "format": FORMAT,
            "spec_path": self.spec_path,
            "arms": [{"name": a.name, "fields": a.fields} for a in self.arms],
            "seeds": self.seeds,
            "overrides": self.overrides,
            "created_at": self.created_at,
            "name": self.name,
            "replay_arms": self.replay_arms,
            "ablate": self.ablate,
            "runs": [{"arm": r.arm, "seed": r.seed, "dir": str(r.dir.relative_to(self.dir)),
                      **({"replay_of": str(r.replay_of.relative_to(self.dir))} if r.replay_of else {})}
                     for r in self.runs()],
        })

    @classmethod
    def load(cls, path: str | Path) -> Experiment:
        folder = Path(path).expanduser().resolve()
        plan_path = folder / PLAN if folder.is_dir() else folder
        plan = atomic.read_json(plan_path, None) if plan_path.is_file() else None
        if not isinstance(plan, dict) or "arms" not in plan:
            raise UserError(f"--resume {path}: no experiment there ({plan_path} is missing or not an experiment's "
                            "plan). Give the folder `awm-tui experiment` printed when it started.")
        return cls(dir=plan_path.parent, spec_path=plan["spec_path"],
                   arms=[Arm(a["name"], dict(a["fields"])) for a in plan["arms"]], seeds=int(plan["seeds"]),
                   overrides=dict(plan.get("overrides") or {}), created_at=plan.get("created_at", ""),
                   name=plan.get("name", "experiment"), replay_arms=list(plan.get("replay_arms") or []),
                   ablate=str(plan.get("ablate") or ""))


def parse_arms(given: list[str]) -> list[Arm]:
    """`--arms memory=off,on` (repeatable: the arms are every combination, in the order given). A field is a short
    name (ARM_FIELDS) or a spec field (`memory.retrieval=bm25,all`); values are checked later, as the spec's."""
    axes = []
    for text in given:
        name, sep, values = text.partition("=")
        name = name.strip()
        choices = [v.strip() for v in values.split(",") if v.strip()]
        field_name = ARM_FIELDS.get(name, name)
        if not sep or not choices:
            raise UserError(f"--arms {text}: give a field and its values, e.g. `--arms memory=off,on` or "
                            "`--arms memory.retrieval=bm25,all`.")
        if field_name not in FIELDS:
            short = ", ".join(sorted(ARM_FIELDS))
            raise UserError(f"--arms {text}: `{name}` is not a spec field. Use a spec field (e.g. memory.retrieval, "
                            f"induction.trigger) or one of the short names: {short}.")
        if len(set(choices)) != len(choices):
            raise UserError(f"--arms {text}: a value is given twice; each arm must differ.")
        axes.append([(name, field_name, _typed(field_name, value)) for value in choices])
    if not axes:
        raise UserError("give the arms to compare, e.g. `--arms memory=off,on` (the first value is the reference).")
    arms = [Arm(",".join(f"{n}={v}" for n, _, v in combo), {f: v for _, f, v in combo})
            for combo in itertools.product(*axes)]
    if len(arms) < 2:
        raise UserError(f"--arms {' '.join(given)} makes one arm; an experiment compares two or more, e.g. "
                        "`--arms memory=off,on`.")
    return arms


def _typed(field_name: str, value: str):
    """A value from the command line as the spec field's type (a value that does not convert is left to the spec's
    check, which says what the field takes)."""
    kind = FIELDS[field_name].kind
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError:
        return value
    if kind == "bool" and value.lower() in ("true", "false", "yes", "no"):
        return value.lower() in ("true", "yes")
    return value


def plan(spec_path: str, arms: list[Arm], seeds: int, overrides: dict, output_dir: str | None, name: str,
         replay_arms: list[str] | None = None, ablate: str = "") -> Experiment:
    """A new experiment's folder and plan (an existing experiment there is refused: resume it instead)."""
    if seeds < 1:
        raise UserError(f"--seeds {seeds}: give 1 or more.")
    if output_dir:
        folder = Path(output_dir).expanduser().resolve()
        if (folder / PLAN).exists():
            raise UserError(f"{folder} already holds an experiment. Resume it with `awm-tui experiment --resume "
                            f"{folder}`, or choose another --output-dir.")
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise UserError(f"--output-dir {folder} is not an empty folder. Choose a new folder for the experiment.")
    else:
        folder = home() / "experiments" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True, exist_ok=True)
    experiment = Experiment(dir=folder, spec_path=str(Path(spec_path).resolve()), arms=arms, seeds=seeds,
                            overrides=overrides, created_at=time.strftime("%Y-%m-%dT%H:%M:%S"), name=name,
                            replay_arms=list(replay_arms or []), ablate=ablate)
    experiment.save()
    return experiment
