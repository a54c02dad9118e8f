"""Grading a patch: the backends (awm.grading.backends) and what they share.

The backends' names live here, in the package's light front module, so that the spec (awm.spec) takes
`evaluation.backend`'s choices from them without importing the backends themselves (awm-tui --help stays quick)."""

from typing import Literal, get_args

# `evaluation.backend`: local (this machine, recipes), swebench-docker (the harness's images), swebench-modal (the
# harness on Modal), none (no grading: every verdict SKIPPED); made by awm.grading.backends.make_evaluator
Backend = Literal["local", "swebench-docker", "swebench-modal", "none"]
BACKENDS: tuple[str, ...] = get_args(Backend)
