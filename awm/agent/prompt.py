"""The task the agent is given: the problem statement (and the hints if the spec asks), never the gold patch, the
test patch or the test lists."""

from __future__ import annotations

from pathlib import Path

from awm.records import Issue

PROMPT = """<uploaded_files>
{repo_path}
</uploaded_files>

I've uploaded a Python code repository in the directory {repo_path}.
Repository path: {repo_path}
Repository: {repo}
Base commit: {base_commit}

Consider the following issue description:

<issue_description>
{problem_statement}
</issue_description>
{hints}
Can you help me implement the necessary changes to the repository so that the requirements specified in the
<issue_description> are met? I've already taken care of all changes to any of the test files described in the
<issue_description>. This means you DON'T have to modify the testing logic or any of the tests in any way.
Your task is to make the minimal changes to non-test files in the {repo_path} directory to ensure the
<issue_description> is satisfied.

Follow these phases to resolve the issue:
1. READING: restate the problem, note the error messages, files, methods and the steps to reproduce.
2. EXPLORATION: find the files related to the problem and the code to change.
3. REPRODUCTION: write and run a small script that reproduces the problem.
4. FIX: make focused, minimal changes to the source files.
5. VERIFICATION: run your script and the relevant existing tests.
6. FINAL REVIEW: compare your changes with the issue description and the base commit {base_commit}.
"""


def build_prompt(issue: Issue, repo_path: Path, include_hints: bool) -> str:
    hints = ""
    if include_hints and issue.hints_text.strip():
        hints = f"\n<hints>\n{issue.hints_text.strip()}\n</hints>\n"
    return PROMPT.format(
        repo_path=repo_path,
        repo=issue.repo,
        base_commit=issue.base_commit,
        problem_statement=issue.problem_statement.strip(),
        hints=hints,
    )
