"""The grading backend a spec asks for (`evaluation.backend`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from awm.grading.base import Evaluator, NoEvaluator
from awm.grading.local import LocalEvaluator
from awm.repos import RepoCache

if TYPE_CHECKING:  # the spec takes its choices from this package (awm.grading.Backend), so no import of it here
    from awm.spec import EvaluationSpec


def make_evaluator(evaluation: EvaluationSpec, cache: RepoCache, work_root: Path, *, run_dir: Path,
                   run_tag: str, model_name: str, check: bool = True) -> Evaluator:
    """The evaluator the spec asks for; a backend that cannot work here (no Docker engine, no Modal credentials)
    is refused now, before the first issue, unless `check` is False (the run's preflight has checked it)."""
    timeout_s = evaluation.timeout_minutes * 60
    if evaluation.backend == "none":
        return NoEvaluator()
    if evaluation.backend == "local":
        return LocalEvaluator(cache, work_root, timeout_s, evaluation.recipes)
    if evaluation.backend == "swebench-modal":
        from awm.grading.modal import ModalEvaluator

        modal = ModalEvaluator(run_dir, run_tag, timeout_s, model_name)
        if check:
            modal.check_available()
        return modal
    from awm.grading.harness import HarnessEvaluator

    harness = HarnessEvaluator(run_dir, run_tag, timeout_s, model_name, keep_images=evaluation.keep_images,
                               min_free_gb=evaluation.min_free_gb, cache=cache)
    if check:
        harness.check_available()
    harness.remove_leftovers()  # what a killed process of this run left mid-grading
    return harness
