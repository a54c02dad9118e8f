"""The names of the files in a run folder, in one place: RunStore (awm.run.store) makes its paths from them, and the
few parts below the run that touch a run folder (the memory operations' log, the agent's workspace asking whether a
run is held) take the names from here rather than spelling them. What each file holds: awm.run.store."""

CONFIG = "config.json"  # the spec without secrets, its fingerprint, the run's provenance
JOURNAL = "experiences.jsonl"  # one line per finished issue: the commit point
DISCARDED = "discarded.jsonl"  # one line per attempt not kept: its spend
MEMORY_FAULTS = "memory_faults.jsonl"  # one line per failed judge or embedding call: kind, instance, reason, reply
MEMORY = "memory.json"  # workflow memory, every round kept
MEMORY_OPS = "memory_ops.jsonl"  # `awm-tui memory RUN disable|enable|pin|unpin`: the edits, applied before each issue
BUFFER = "buffer.json"  # the successful experiences induction learns from
FAILURES = "failures.json"  # the failed ones pitfall induction learns from
CHECKPOINT = "checkpoint.json"  # progress summary (what the run picker reads)
PREDICTIONS = "predictions.jsonl"  # SWE-bench predictions
RESULT = "result.json"  # experiences, workflows, statistics
CONTROL = "control.json"  # a watcher's pause or stop request to the run's owner
LOCK = ".lock"  # held while an engine runs the run
SCRIPTED_REQUESTS = "scripted_requests.jsonl"  # the demo's scripted model: every request it answered
INDUCTION = "induction"  # each round's prompt and raw reply
LOGS = "logs"  # each issue's log and trajectory
EVAL = "eval"  # each issue's grading: patch.diff, test_output.txt, report.json
