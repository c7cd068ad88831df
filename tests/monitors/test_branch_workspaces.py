"""``label_hunting`` and branches: a branch (``agent-1-b1``) is an agent like the others once its
``agent.branched`` event is seen, on a resume's replay too. Its own workspace is not its parent's
(``agent-1`` is no prefix of ``agent-1-b1``), and reading another's, either way, fires."""

from __future__ import annotations

from pathlib import Path

from aar.config import MonitorConfig, RunConfig
from aar.events import AgentBranched, EventPayload, ToolCalled
from aar.store import RunStore
from agents.monitors.base import MonitorEnv, Seen
from agents.monitors.shell import LabelHunting


def _bash(command: str) -> ToolCalled:
    return ToolCalled(step=1, call_id=f"c-{abs(hash(command))}", tool="bash", input={"command": command})


def _seen(agent: str, payload: EventPayload) -> Seen:
    return Seen(agent=agent, payload=payload, ts=0.0)


async def test_a_branch_is_an_agent_like_the_others_once_seen(tmp_path: Path) -> None:
    async with await RunStore.open(tmp_path / "run.db", create=True) as store:
        env = MonitorEnv(store, RunConfig(), frozenset({"agent-1", "agent-2"}))
        rule = LabelHunting(MonitorConfig(rule="label_hunting"), env)
        branched = AgentBranched(command_id=1, parent="agent-1", step=3, snapshot_id=1, snapshot_step=3, guidance="g")
        rule.see(_seen("agent-1-b1", branched), replay=True)  # a resumed daemon replays the log first

        assert rule.see(_seen("agent-1-b1", _bash("ls ../agent-1-b1/notes"))) == [], "its own workspace"
        assert rule.see(_seen("agent-1", _bash("cat workspaces/agent-1/out.json"))) == [], "agent-1's own"
        fired = {
            "agent-1-b1": rule.see(_seen("agent-1-b1", _bash("cat ../agent-1/notes/f4.txt"))),
            "agent-2": rule.see(_seen("agent-2", _bash("cat ../agent-1-b1/out/preds.json"))),
            "agent-1": rule.see(_seen("agent-1", _bash("ls workspaces/agent-1-b1/"))),
        }
        for agent, found in fired.items():
            assert len(found) == 1 and found[0].agent == agent, (agent, found)
        assert "agent-1's workspace" in fired["agent-1-b1"][0].reason
        assert "agent-1-b1's workspace" in fired["agent-2"][0].reason
