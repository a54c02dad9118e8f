"""The recorder of one issue's agent (awm.agent.recorder): the log, the live events with their progress, the clock
and the trajectory, kept by one object whose `with` closes the log and writes the trajectory whatever ended the
agent; a thread left running after the issue writes nothing. In-process, with stand-ins named as the SDK's events
(awm.agent.trajectory reads them by their type's name), in milliseconds."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from awm.agent.recorder import Progress, Recorder


class MessageEvent:  # the SDK's event of that name, as describe() reads it
    def __init__(self, role: str, text: str):
        self.llm_message = SimpleNamespace(role=role, content=[SimpleNamespace(text=text)])

    def model_dump(self, mode: str) -> dict:
        return {"kind": "MessageEvent", "role": self.llm_message.role, "text": self.llm_message.content[0].text}


class ConversationStateUpdateEvent:  # an event describe() does not read: in the trajectory, not in the log
    def model_dump(self, mode: str) -> dict:
        raise ValueError("cannot be dumped")


ISSUE = SimpleNamespace(instance_id="acme__app-1", repo="acme/app", base_commit="abc123")


def recorder(tmp_path, events: list, spent=(0.25, 1200)) -> Recorder:
    return Recorder(tmp_path / "logs" / "agent.log", tmp_path / "trajectory.json",
                    lambda *args: events.append(args), lambda text: text.replace("sk-SECRET", "[key]"),
                    lambda: spent)


def test_events_are_logged_passed_on_with_progress_and_kept_for_the_trajectory(tmp_path):
    events: list = []
    workspace = SimpleNamespace(repo_path="/work/app", server="http://10.0.0.5:8000")
    with recorder(tmp_path, events) as rec:
        rec.header(ISSUE, workspace, "## Workflow: run the tests")
        rec.event(MessageEvent("assistant", "my key is sk-SECRET"))
        rec.event(ConversationStateUpdateEvent())
        rec.footer("finished", "", 2)
    assert events == [("message", "assistant", "my key is [key]", Progress(0, 0.25, 1200))]
    assert [x.text for x in rec.seen] == ["my key is sk-SECRET"]  # the runner reads the events as they came
    log = (tmp_path / "logs" / "agent.log").read_text()
    assert log.startswith("# acme__app-1  repo acme/app  base abc123\n# workspace /work/app\n"
                          "# agent server http://10.0.0.5:8000\n# workflow memory in the system prompt:\n")
    assert "MESSAGE assistant\nmy key is [key]\n" in log and "sk-SECRET" not in log
    assert log.endswith("# agent status: finished  (nudged 2 times)\n")
    trajectory = json.loads((tmp_path / "trajectory.json").read_text())
    assert trajectory == [{"kind": "MessageEvent", "role": "assistant", "text": "my key is [key]"},
                          {"kind": "ConversationStateUpdateEvent"}]  # an event that cannot be dumped: its kind


def test_nothing_is_recorded_after_stop_and_the_outputs_are_written_whatever_ended_the_agent(tmp_path):
    events: list = []
    with pytest.raises(RuntimeError, match="the agent broke"):
        with recorder(tmp_path, events) as rec:
            rec.event(MessageEvent("assistant", "first"))
            rec.stop()  # the agent is done with; a thread the guard gave up on is still running
            rec.event(MessageEvent("assistant", "too late"))
            raise RuntimeError("the agent broke")
    assert [e[2] for e in events] == ["first"] and len(rec.seen) == 1
    assert rec._log is not None and rec._log.closed
    assert "too late" not in (tmp_path / "logs" / "agent.log").read_text()
    assert [e["text"] for e in json.loads((tmp_path / "trajectory.json").read_text())] == ["first"]
    rec.event(MessageEvent("assistant", "after the issue"))  # a late thread's event: dropped, not a closed-file error
    assert len(rec.seen) == 1
