"""awm-tui's engine: the online loop of Agent Workflow Memory over the OpenHands agent on SWE-bench issues.

    awm/run/      the run: spec in, parts assembled, the loop, events, the run folder
    awm/agent/    the OpenHands agent and where it works (local checkout, Docker sandbox)
    awm/grading/  grading a patch: local, the official harness, re-grading
    awm/memory/   the experience buffer, workflow induction, workflow memory
    awm/model/    the model's settings made client arguments, config.toml tables, the check before issue 1
    awm/experiment/  runs compared: statistics, continual-learning figures, ablations, costs, reports, export
    awm/images/   the Docker images the agent and the grading run in, built here
    awm/demo/     the bundled mini-benchmark and its scripted model
    spec.py, dataset.py, repos.py, records.py, errors.py, paths.py, atomic.py, fmt.py, processes.py: what they all
    share

The design's Python API is importable from here: `from awm import AWMConfig, AWMOnlineLoop, load_django_issues`."""

_API = ("AWMConfig", "AWMOnlineLoop", "AWMRunResult", "load_django_issues")


def __getattr__(name: str):
    # Imported on first use: `import awm.run.loop` must not pull the whole engine in through the API.
    if name in _API:
        from awm import api

        return getattr(api, name)
    raise AttributeError(f"module 'awm' has no attribute {name!r}")


__all__ = list(_API)
