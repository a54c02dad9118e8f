"""Why a run stops, in words a user can act on: the streaks of issues that end the run (same-cause errors, protocol
failures, failed judge calls), the causes they are told apart by, and the messages to stop with, each naming the
spec's field, the model and the `awm-tui` command that resumes the run.

The loop only asks (Streaks.add, Diagnoses' methods); what the messages say lives here, in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from awm.agent.remote import NoServerLeft
from awm.agent.runner import AgentResult, AgentStatus
from awm.errors import UserError
from awm.model.client import is_model_fault
from awm.records import PITFALL, WORKFLOW, Experience, Issue, Status
from awm.run.stats import Stats
from awm.run.store import RunStore
from awm.spec import RunSpec

JUDGE_ATTEMPTS = 3  # issues in a row whose judge call failed (induction.success: judge | tests+judge)

# Why an issue ended with no patch when the model never used the tools as the agent's protocol wants: a broken
# model setup (no native tool calling, a wrong chat template or parser), not a weak model. AgentResult.protocol
# (set by the agent runner) names it; without it the loop infers it from the status and the step count.
PROTOCOL_CAUSES = {
    "no_tool_call": "the model answered with text and no tool call",
    "bad_tool_call": "every tool call the model made was malformed or named an unknown tool",
    "no_valid_tool_call": "the model made no valid tool call",
}


def protocol_failure(agent: AgentResult | None) -> str:
    """The kind of protocol failure (a key of PROTOCOL_CAUSES) an issue without a patch ended with, or "": the
    runner's verdict (AgentResult.protocol) when it gives one, else inferred: no valid tool call at all (no step)
    and the agent finished (a text reply), got stuck (malformed or unknown tool calls) or ran out of steps."""
    if agent is None or agent.patch.strip():
        return ""
    if agent.protocol:
        return str(agent.protocol)
    if agent.steps > 0:
        return ""
    causes: dict[str, str] = {AgentStatus.FINISHED: "no_tool_call", AgentStatus.STUCK: "bad_tool_call",
                              AgentStatus.MAX_ITERATIONS: "no_valid_tool_call"}  # a StrEnum: its str looks it up
    return causes.get(agent.status, "")


def cause(reason: str) -> str:
    """A reason with its ids and numbers blanked, so the same failure on two issues compares equal."""
    reason = re.sub(r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b", "<id>", reason)
    return re.sub(r"\d+", "#", reason)[:160]


def judge_fault(experience: Experience) -> bool:
    """The judge was asked and gave no verdict (its call failed, or its reply held none): an ERROR verdict."""
    return (experience.judge or {}).get("verdict") == "ERROR"


def judged(experience: Experience) -> bool:
    """The judge was asked about this attempt: a failed call, or a reply kept."""
    return judge_fault(experience) or bool((experience.judge or {}).get("reply_path"))


@dataclass
class Streaks:
    """Issues in a row ended by one cause, counted in the order they are committed: the same protocol failure, or
    errors of the same cause (`limit` of them stop the run); and issues in a row whose judge call failed
    (JUDGE_ATTEMPTS of them), which a verdict ends. `add` says which streak, if any, stops the run."""

    limit: int  # max_consecutive_errors
    protocol: dict[str, str] = field(default_factory=dict)  # instance id -> its protocol failure's kind
    errors: list[Experience] = field(default_factory=list)  # the current streak of one cause
    judge: list[Experience] = field(default_factory=list)  # the current streak of failed judge calls
    cause: str = ""

    def key(self, experience: Experience) -> str:
        """What makes issues in a row one streak: the same protocol failure, or errors of the same cause."""
        if experience.instance_id in self.protocol:
            return "protocol:" + self.protocol[experience.instance_id]
        if experience.status == Status.ERROR:
            return "error:" + cause(experience.reason)
        return ""

    def add(self, experience: Experience) -> tuple[str, list[Experience]] | None:
        """Count a committed issue. The streak that stops the run, as ("errors" | "judge", its issues), or None."""
        if experience.protocol:
            self.protocol[experience.instance_id] = experience.protocol
        key = self.key(experience)
        if not key:
            self.errors = []
        elif key == self.cause:
            self.errors = self.errors + [experience]
        else:
            self.errors = [experience]
        self.cause = key
        if len(self.errors) >= self.limit:
            return "errors", self.errors
        if judged(experience):  # a failed call lengthens its streak, a verdict ends it
            self.judge = self.judge + [experience] if judge_fault(experience) else []
            if len(self.judge) >= JUDGE_ATTEMPTS:
                return "judge", self.judge
        return None

    def ended_in_errors(self) -> list[Experience]:
        """The issues of the current streak that ended in errors."""
        return [e for e in self.errors if e.status == Status.ERROR]


def relative(store: RunStore, path: str | Path | None) -> str | None:
    """A file's path relative to the run folder (as memory.json records it)."""
    if not path:
        return None
    try:
        return str(Path(path).relative_to(store.dir))
    except ValueError:
        return str(path)


def kept(store: RunStore, relative_path: str | None) -> str:
    return f"; the reply is kept in {store.dir / relative_path}" if relative_path else ""


def them(ids: list[str]) -> str:
    return "it will be" if len(ids) == 1 else "they will be"


def _step_finished(over: bool) -> str:
    return ": the step in flight when it was reached finished" if over else ""


class Diagnoses:
    """The messages a run stops (or an issue ends) with, for this run's spec and folder."""

    def __init__(self, spec: RunSpec, store: RunStore) -> None:
        self.spec, self.store = spec, store

    def resume_hint(self) -> str:
        return f"resume with `awm-tui --no-ui --resume {self.store.dir}`"

    def _spec_file(self) -> str:
        return self.store.spec_path() or "the spec"

    def inducing_model(self) -> tuple[str, str]:
        """The model memory's own calls (induction, merging, the judge) go to, and the field that sets it."""
        if self.spec.induction.llm is not None:
            return self.spec.induction.llm.model, "induction.llm"
        return self.spec.llm.model, "llm"

    def stopped_by(self, kind: str, streak: list[Experience], protocol: dict[str, str]) -> str:
        """The message for a streak that stops the run (Streaks.add's): of failed judge calls ("judge"), or of
        one cause ("errors"), with `protocol` the protocol failures by instance id."""
        if kind == "judge":
            return self.judge(streak)
        return self.streak(streak, protocol.get(streak[-1].instance_id, ""))

    def streak(self, streak: list[Experience], protocol: str) -> str:
        """Too many issues in a row ended by one cause: an error, or (`protocol`, a key of PROTOCOL_CAUSES) a
        protocol failure. Those attempts are forgotten (redone on resume)."""
        spec_file = self._spec_file()
        resume = f"{self.resume_hint()}; those {len(streak)} issues will be redone."
        last = streak[-1]
        if protocol:
            return (
                f"stopped after {len(streak)} issues in a row ended with no patch because "
                f"{PROTOCOL_CAUSES.get(protocol, protocol)} (last: {last.instance_id}: {last.reason}). "
                f"This looks like a broken model setup, not a weak model: check that the model and its server "
                f"support native tool (function) calling (an OpenAI-compatible server must have it enabled, e.g. "
                f"vLLM's --enable-auto-tool-choice and --tool-call-parser), and the model name and provider "
                f"(field `llm` of {spec_file}); the agent's log in {self.store.logs} shows the replies. Then {resume}"
            )
        reason = last.reason
        if is_model_fault(reason):
            where = f"the model's address and key: field `llm` of {spec_file}"
        elif "is not in" in reason and "commit" in reason:
            where = f"the repository's source: field `repos` of {spec_file}, or the dataset's base_commit"
        else:
            where = "see the issue's log and eval/ folder; the machine, a disk or a tool the issue needs"
        return (f"stopped after {len(streak)} consecutive errors with the same cause: {reason}. "
                f"Fix the cause ({where}) and {resume}")

    def judge(self, streak: list[Experience]) -> str:
        """JUDGE_ATTEMPTS issues in a row whose judge call failed (forgotten: their agents' work is redone on
        resume, with the judge)."""
        model, field_name = self.inducing_model()
        last = streak[-1]
        reason = str((last.judge or {}).get("reasoning", "")) or "no verdict"
        rule = self.spec.induction.success
        return (
            f"stopped after {len(streak)} issues in a row whose judge call failed (field `induction.success: "
            f"{rule}`; last: {last.instance_id}: {reason}{kept(self.store, (last.judge or {}).get('reply_path'))})."
            f" Without the judge's verdicts nothing is learned and the memory arm would silently run as the baseline."
            f" Check the model that judges, {model} (field `{field_name}` of {self._spec_file()}: does it answer, and "
            f"end its reply with `Verdict: success` or `Verdict: failure`?) and {self.resume_hint()}; those "
            f"{len(streak)} issues will be redone."
        )

    def embedding(self, issue: Issue, failures: int, reason: str) -> str:
        """Embedding calls failed `failures` times in a row: the issue is not started (it runs on resume)."""
        where = self.spec.llm.base_url or "the provider's default address"
        return (
            f"stopped after {failures} failed embedding calls in a row (retrieval for "
            f"{issue.instance_id}, field `memory.retrieval: embedding`): {reason}. An issue run without its memory "
            f"would count as the baseline's. Check the embedding model, {self.spec.memory.embedding_model} (field "
            f"`memory.embedding_model` of {self._spec_file()}; it is asked at {where} with the key of `llm`), or use "
            f"`memory.retrieval: bm25`, and {self.resume_hint()}; {issue.instance_id} has not started and will "
            "run then."
        )

    def induction(self, round_number: int, failures: int, reason: str, reply_path: str | None,
                  kind: str = WORKFLOW) -> str:
        """An induction round failed `failures` times in a row (it is tried again on resume)."""
        model, field_name = self.inducing_model()
        what = "pitfall induction, field `induction.from_failures`" if kind == PITFALL else "workflow induction"
        prompt = (f"induction/pitfalls_{round_number:03d}.prompt.txt" if kind == PITFALL
                  else f"induction/round_{round_number:03d}.prompt.txt")
        return (
            f"stopped after {failures} failed attempts in a row at induction round {round_number} ({what}): "
            f"{reason}{kept(self.store, reply_path)}. Without induction the memory arm would silently run as the "
            f"baseline. Check the model that induces, {model} (field `{field_name}` of {self._spec_file()}: does it "
            f"answer, and in the format of {prompt}?) and {self.resume_hint()}; the round will be tried again."
        )

    def merge(self, round_number: int, failures: int, last: dict) -> str:
        """LLM merges failed `failures` times in a row (the round is in memory, unmerged)."""
        model, field_name = self.inducing_model()
        return (
            f"stopped after {failures} failed LLM merges in a row (field `memory.merge: llm`; last, in "
            f"induction round {round_number}, of {last.get('id')}: {last.get('error')}). A failed merge keeps the "
            f"newly induced version as it is, so memory no longer merges as the spec says. Check the model that "
            f"merges, {model} (field `{field_name}` of {self._spec_file()}: does it answer in the format of the "
            f"induction/merge_*.prompt.txt files?), or set `memory.merge: similarity`, and {self.resume_hint()}; "
            "the round is in memory (memory.json records its merge errors)."
        )

    def over_budget(self, stats: Stats) -> str:
        """The message to pause with when the run has spent its budget (budget.max_cost_usd, budget.max_tokens),
        or ""."""
        budget = self.spec.budget
        spent = []
        over = ("the issues in flight when it was reached were finished, not cut: a cap is checked between issues")
        if budget.max_cost_usd is not None and stats.cost >= budget.max_cost_usd:
            spent.append(f"it stopped at ${stats.cost:.2f} of a ${budget.max_cost_usd:.2f} cap (budget.max_cost_usd"
                         f"{f'; {over}' if stats.cost > budget.max_cost_usd else ''})")
        tokens = stats.prompt_tokens + stats.completion_tokens
        if budget.max_tokens is not None and tokens >= budget.max_tokens:
            spent.append(f"it stopped at {tokens:,} of a {budget.max_tokens:,}-token cap (budget.max_tokens"
                         f"{f'; {over}' if tokens > budget.max_tokens else ''})")
        if not spent:
            return ""
        discarded = (f" (${stats.discarded_cost:.2f} of it spent on {stats.discarded_attempts} interrupted or redone "
                     "attempt(s))" if stats.discarded_cost else "")
        return (f"stopped at the run's budget: {' and '.join(spent)}{discarded}. Nothing is lost; to go on, raise the "
                f"limit in {self._spec_file()} (section `budget`) and resume with `awm-tui --no-ui --resume "
                f"{self.store.dir}`.")

    def issue_overshoot(self, agent: AgentResult) -> str:
        """Why an issue stopped at its spending cap, with what it finally spent: the step in flight when the cap
        was reached finished, so the figure may pass the cap."""
        budget = self.spec.budget
        tokens = agent.prompt_tokens + agent.completion_tokens
        if budget.issue_max_cost_usd is not None and agent.cost >= budget.issue_max_cost_usd:
            return (f"stopped at ${agent.cost:.2f} of a ${budget.issue_max_cost_usd:.2f} issue cap "
                    f"(budget.issue_max_cost_usd){_step_finished(agent.cost > budget.issue_max_cost_usd)}")
        if budget.issue_max_tokens is not None and tokens >= budget.issue_max_tokens:
            return (f"stopped at {tokens:,} of a {budget.issue_max_tokens:,}-token issue cap "
                    f"(budget.issue_max_tokens){_step_finished(tokens > budget.issue_max_tokens)}")
        return ""

    def servers_lost(self, iid: str, losses: int, server: str, reason: str, pooled: bool) -> UserError:
        """An issue's agent server stopped answering `losses` times: its agent may be what kills them."""
        return UserError(
            f"{iid}: its agent server stopped answering {losses} times (last: {server}, {reason}). The "
            f"issue's agent may be what brings its server down: see its log {self.store.log_path(iid)}. Nothing "
            f"of {iid} is recorded; check the servers, then resume with `awm-tui --no-ui --resume "
            f"{self.store.dir}` (it will be redone).",
            field="agent.servers" if pooled else "agent.runtime_api_url")

    def no_server_left(self, gone: NoServerLeft) -> UserError:
        """The message to stop with when every agent server stopped answering."""
        servers = "; ".join(f"{server} ({why})" for server, why in gone.lost.items())
        return UserError(
            f"every agent server stopped answering and is out of the run: {servers}. The issues in flight are not "
            "recorded and will be redone. Start the servers again (or fix their addresses), then resume with "
            f"`awm-tui --no-ui --resume {self.store.dir}`.", field="agent.servers")
