"""Experiments over finished runs: paired comparison with statistics and a report (compare), arms and seeds run as
one experiment (arms), and a run exported in the SWE-bench experiments layout (export)."""
