"""`agent.kind` selects an agent the SDK offers (its tool set); anything else is refused by the spec."""

import pytest

from awm.agent.runner import AGENT_KINDS, tools_for
from awm.spec import FIELDS


def test_the_spec_accepts_exactly_the_kinds_the_runner_builds():
    assert set(FIELDS["agent.kind"].choices) == set(AGENT_KINDS)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(AGENT_KINDS))
def test_each_kind_resolves_to_registered_usable_sdk_tools(kind):
    from openhands.sdk.tool.registry import is_tool_usable

    tools = tools_for(kind, "subprocess")
    names = [t.name for t in tools]
    assert names[0] == "terminal" and tools[0].params == {"terminal_type": "subprocess"}
    assert len(names) == len(set(names)) >= 3
    assert all(is_tool_usable(name) for name in names), names
    edit = {"CodeActAgent": "file_editor", "ApplyPatchAgent": "apply_patch", "GeminiAgent": "edit"}[kind]
    assert edit in names
