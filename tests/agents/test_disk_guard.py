"""The disk guard pauses the running agents when the run's disk falls under its reserve, says how much space
is needed, and resumes those it paused (not one the supervisor paused) once half as much again is free."""

from __future__ import annotations

from pathlib import Path

from aar.events import RunLog
from aar.store import RunStore
from agents.agent_state import AgentControl
from agents.disk_guard import MB, REASON, DiskGuard
from tests.agents.helpers import events


def paused(control: AgentControl) -> bool:
    """Read afresh: mypy would keep an attribute narrowed by an earlier assert across ``guard.check()``."""
    return control.paused


async def test_the_team_pauses_on_a_full_disk_and_goes_on_when_space_is_back(store: RunStore, tmp_path: Path) -> None:
    controls = {name: AgentControl(name) for name in ("agent-1", "agent-2", "agent-3")}
    controls["agent-3"].pause("")  # the supervisor's own pause
    ended = AgentControl("agent-4")
    ended.ended = True
    controls["agent-4"] = ended
    free = [500 * MB]
    guard = DiskGuard(tmp_path, controls, store, reserve_mb=100, free=lambda path: free[0])

    await guard.check()
    assert not any(c.paused for n, c in controls.items() if n != "agent-3")

    free[0] = 40 * MB
    await guard.check()
    assert [n for n, c in controls.items() if c.paused and c.pause_reason == REASON] == ["agent-1", "agent-2"]
    assert controls["agent-3"].paused and not ended.paused

    free[0] = 120 * MB  # over the reserve, not yet half as much again: still waiting
    await guard.check()
    assert controls["agent-1"].paused

    free[0] = 150 * MB
    await guard.check()
    assert not paused(controls["agent-1"]) and not paused(controls["agent-2"])
    assert controls["agent-3"].paused, "the supervisor's pause is the supervisor's to lift"

    lines = [(e.payload.level, e.payload.message) for e in await events(store, RunLog)]
    assert lines == [
        (
            "warning",
            f"disk nearly full: 40 MB free on {tmp_path}, under the 100 MB reserve; "
            "the team is paused until 110 MB more are free",
        ),
        ("info", f"disk space is back: 150 MB free on {tmp_path}; the team goes on"),
    ]


async def test_a_reserve_of_zero_turns_the_guard_off(store: RunStore, tmp_path: Path) -> None:
    guard = DiskGuard(tmp_path, {"agent-1": AgentControl("agent-1")}, store, reserve_mb=0, free=lambda path: 0)
    await guard.run()  # returns at once
    assert not guard.full
