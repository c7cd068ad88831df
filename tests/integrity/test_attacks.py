"""The attack suite of issue 16: the scripted attacker against every sandbox backend; nothing may leak.

Each backend's test prints ``<backend>: N attack steps tried, M leaked`` (run with ``-s``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aar.events import SandboxLifecycle
from aar.store import RunStore
from agents.scripted.attacker import plan
from sandbox.bwrap import bwrap_path
from sandbox.factory import docker_available
from tests.integrity.attack_run import AGENT, API_KEY, Outcome, attack, step_label
from tests.support.engines import Engine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ATTACK_STEPS = 29
"""The attack steps of issue 16, counted by hand: the plan may grow (raise this), never shrink unnoticed."""


def _every_attack_was_tried(outcome: Outcome) -> None:
    """Each step of the plan reached its tool, once, in order (counting the attacker's own steps proved nothing:
    it runs its plan by construction, so a count taken from that plan could not fail)."""
    planned = plan(10)
    assert len(planned) == ATTACK_STEPS, f"the attacker's plan has {len(planned)} steps, not {ATTACK_STEPS}"
    assert outcome.tried == [step_label(s.tool, s.input) for s in planned], outcome.tried
    refused = [step for step, output in outcome.outputs.items() if output.startswith("not run")]
    assert refused == [], "a step the loop refused to run was not tried"
    assert outcome.leaked == []


def _commands_really_ran(outcome: Outcome) -> None:
    """Control: the attacker's commands ran (a leak count of 0 from commands that never started proves nothing)."""
    env = next(o for step, o in outcome.outputs.items() if step.startswith("bash env"))
    assert "HOME=" in env and "PATH=" in env, env
    assert "[exit" not in env or "[exit 0]" in env


def _laundering_and_probes_are_caught(outcome: Outcome) -> None:
    assert "majority" in outcome.by_label("majority.json").flags
    assert "probe" in outcome.by_label("flip1.json").flags
    over = [s for s in outcome.submissions if s.label == "base.json"][-1]
    assert over.status == "rejected" and "over_budget" in over.flags
    first = outcome.by_label("launder1.py")
    assert first.status == "scored" and "probe" in first.flags, first
    assert outcome.by_label("launder2.py").status == "scored"
    for label in ("launder3.py", "launder4.py"):
        late = outcome.by_label(label)
        assert late.status == "rejected" and "over_budget" in late.flags and "method budget" in late.error
    assert outcome.by_label("snoop_fail.py").status == "failed"
    # What the attacker saw of the score is rounded to 0.01.
    board = outcome.outputs["leaderboard "]
    assert "PGR" in board and not any(
        len(w.split(".")[-1].rstrip(',]"')) > 2 for w in board.split() if w[:2] in ("0.", "-0", "1.")
    )


async def test_local_with_bubblewrap(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if bwrap_path() is None:
        pytest.fail("bubblewrap does not work here; scripts/test installs it (apt-get install -y bubblewrap)")
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    outcome = await attack(base, "local-bwrap", {"backend": "local"})
    print(outcome.line())
    _every_attack_was_tried(outcome)
    _commands_really_ran(outcome)
    _laundering_and_probes_are_caught(outcome)
    assert "unisolated" not in {f for s in outcome.submissions for f in s.flags}
    first = outcome.by_label("launder1.py")
    assert first.flags  # the canary's flag sits on the result; the report shows both (test_report)


@pytest.mark.usefixtures("without_bubblewrap")
async def test_local_without_isolation_as_root(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("the unprivileged fallback is for a root daemon; as a user an unisolated run is the user's waiver")
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    outcome = await attack(base, "local-none-root", {"backend": "local", "isolation": "none-allowed"})
    print(outcome.line())
    _every_attack_was_tried(outcome)
    _commands_really_ran(outcome)
    assert all("unisolated" in s.flags for s in outcome.submissions), "every score of an unisolated run says so"


@pytest.mark.docker
async def test_docker(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not docker_available():
        pytest.skip("no Docker engine")
    import docker

    from sandbox.minimal_image import DEFAULT_TAG, ensure_minimal_image

    client = docker.from_env()
    try:
        image = ensure_minimal_image(client, DEFAULT_TAG)
    finally:
        client.close()
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    outcome = await attack(base, "docker", {"backend": "docker", "image": image, "memory": "1g"})
    print(outcome.line())
    _every_attack_was_tried(outcome)
    _commands_really_ran(outcome)


@pytest.mark.docker
async def test_docker_on_another_host(
    base: Path, monkeypatch: pytest.MonkeyPatch, second_engine: Engine, docker_image: str
) -> None:
    """The agent's sandbox on one of ``sandbox.hosts`` (a second engine on its own socket); the evaluator's
    verification sandboxes stay on this machine's engine (``docker_image``)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    host = second_engine.host("node-2")
    sandbox = {"backend": "docker", "image": docker_image, "memory": "1g", "hosts": [host.model_dump()]}
    outcome = await attack(base, "docker-host", sandbox)
    print(outcome.line())
    _every_attack_was_tried(outcome)
    _commands_really_ran(outcome)
    assert outcome.paths is not None
    store = await RunStore.open(outcome.paths.db)
    try:
        placed = {
            (e.payload.action, e.payload.host)
            for e in await store.events_of(["sandbox.lifecycle"], agent=AGENT)
            if isinstance(e.payload, SandboxLifecycle)
        }
    finally:
        await store.close()
    assert ("started", "node-2") in placed, placed
