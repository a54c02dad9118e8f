"""A run folder read for display (the run picker's preview, a finished run opened read-only, a resumed run's
history): only reads, never writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from awm.memory.store import WorkflowMemory
from awm.records import Experience
from awm.run.stats import Stats
from awm.run.store import RunStore


@dataclass
class RunView:
    run_dir: Path
    name: str
    model: str
    spec_path: str
    status: str
    message: str
    instance_ids: list[str]
    experiences: list[Experience]
    memory: WorkflowMemory
    stats: Stats

    @property
    def finished(self) -> bool:
        return self.status == "completed"


def load_run(run_dir: Path) -> RunView:
    store = RunStore(Path(run_dir))
    config = store.config()
    spec = store.recorded_spec()
    checkpoint = store.checkpoint()
    experiences = store.finished(repair=False)
    memory = WorkflowMemory.load(int(spec.get("induction", {}).get("max_workflows", 50)), store.memory_path)
    memory.path = None  # a view never writes
    instance_ids = checkpoint.get("instance_ids") or [e.instance_id for e in experiences]
    return RunView(
        run_dir=store.dir,
        name=spec.get("name", store.dir.name),
        model=spec.get("llm", {}).get("model", ""),
        spec_path=config.get("spec_path") or "",
        status=str(store.state()),
        message=checkpoint.get("message", ""),
        instance_ids=list(instance_ids),
        experiences=experiences,
        memory=memory,
        stats=Stats.compute(experiences, len(instance_ids), len(memory.workflows), memory.round,
                            float(checkpoint.get("elapsed_s", 0.0)), memory.induction_usage()),
    )

