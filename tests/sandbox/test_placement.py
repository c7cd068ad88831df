"""Placement on ``sandbox.hosts``: a GPU is never given twice, no host is asked for more than it has, the same
config gives the same plan, a host that went away gets nothing, and a team that does not fit is refused in one
line when its config loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aar.config import RunConfig, load_config
from aar.events import ErrorRaised
from aar.placement import Ask, Placement, PlacementError, Room, place, size_bytes
from aar.store import RunStore
from agents.sandbox_slot import SandboxSlot
from sandbox.base import SandboxError
from sandbox.hosts import HostPool

G = 1024**3
ONE_GPU = Ask(gpus=1, cpus=1, memory=G)


def test_two_agents_asking_one_gpu_each_never_get_the_same_one() -> None:
    rooms = [Room("a", ("0", "1"), 8, 16 * G), Room("b", ("3",), 8, 16 * G)]
    plan = place(dict.fromkeys(["agent-1", "agent-2", "agent-3"], ONE_GPU), rooms)
    given_out = [(p.host, gpu) for p in plan.values() for gpu in p.gpus]
    assert len(given_out) == 3 and len(set(given_out)) == 3
    assert plan == {
        "agent-1": Placement("a", ("0",)),
        "agent-2": Placement("b", ("3",)),
        "agent-3": Placement("a", ("1",)),
    }
    assert plan["agent-2"].gpus_setting == "3" and Placement("a", ()).gpus_setting == "none"


@given(
    gpus=st.lists(st.integers(0, 3), min_size=1, max_size=4),
    cpus=st.lists(st.integers(1, 8), min_size=4, max_size=4),
    agents=st.integers(1, 9),
    ask_gpus=st.integers(0, 2),
    ask_cpus=st.integers(1, 3),
)
def test_no_gpu_is_given_twice_and_no_host_is_overfilled(
    gpus: list[int], cpus: list[int], agents: int, ask_gpus: int, ask_cpus: int
) -> None:
    rooms = [Room(f"h{i}", tuple(str(g) for g in range(n)), cpus[i], 64 * G) for i, n in enumerate(gpus)]
    ask = Ask(gpus=ask_gpus, cpus=ask_cpus, memory=G)
    names = [f"agent-{i}" for i in range(agents)]
    # With one ask for all, each host takes as many agents as its scarcest resource allows, independently.
    room_for = sum(min(len(r.gpus) // ask.gpus if ask.gpus else agents, int(r.cpus // ask.cpus)) for r in rooms)
    try:
        plan = place(dict.fromkeys(names, ask), rooms)
    except PlacementError as refused:
        assert "\n" not in str(refused)
        assert agents > room_for, "refused a team the hosts had room for"
        return
    assert agents <= room_for
    assert plan == place(dict.fromkeys(names, ask), rooms), "the same config gives the same plan"
    given_out = [(p.host, g) for p in plan.values() for g in p.gpus]
    assert len(given_out) == len(set(given_out)) == agents * ask_gpus
    for room in rooms:
        here = [p for p in plan.values() if p.host == room.host]
        assert all(set(p.gpus) <= set(room.gpus) for p in here)
        assert len(here) * ask_cpus <= room.cpus


def test_a_team_larger_than_the_gpus_is_refused_in_one_line() -> None:
    rooms = [Room("a", ("0",), 8, 16 * G), Room("b", ("0",), 8, 16 * G)]
    with pytest.raises(PlacementError) as refused:
        place(dict.fromkeys(["agent-1", "agent-2", "agent-3"], ONE_GPU), rooms)
    line = str(refused.value)
    assert "\n" not in line
    assert "no host has room for agent-3, which asks for 1 GPU, 1 CPU, 1g memory" in line
    assert "a: 0 GPUs, 7 CPUs, 15g; b: 0 GPUs, 7 CPUs, 15g" in line


def test_memory_and_cpus_are_capacity_too() -> None:
    rooms = [Room("small", (), 2, 3 * G)]
    assert set(place(dict.fromkeys(["x", "y", "z"], Ask(0, 0.5, G)), rooms).values()) == {Placement("small", ())}
    with pytest.raises(PlacementError, match="no host has room for w"):
        place(dict.fromkeys(["x", "y", "z", "w"], Ask(0, 0.5, G)), rooms)
    with pytest.raises(PlacementError, match="no host has room for z"):
        place(dict.fromkeys(["x", "y", "z"], Ask(0, 1, 512 * 1024**2)), rooms)


def test_an_agent_whose_host_went_away_goes_elsewhere_around_the_others() -> None:
    rooms = [Room("a", ("0", "1"), 8, 16 * G), Room("b", ("0", "1"), 8, 16 * G)]
    plan = place(dict.fromkeys(["agent-1", "agent-2", "agent-3"], ONE_GPU), rooms)
    assert plan["agent-1"] == Placement("a", ("0",)) and plan["agent-2"] == Placement("b", ("0",))
    others = {n: (p, ONE_GPU) for n, p in plan.items() if n != "agent-1"}
    moved = place({"agent-1": ONE_GPU}, rooms, placed=others, dead={"a"})
    assert moved == {"agent-1": Placement("b", ("1",))}, "b's GPU 0 is agent-2's; a is gone"
    with pytest.raises(PlacementError, match=r"no host has room for agent-2.*\(a, b gone\)"):
        place({"agent-2": ONE_GPU}, rooms, dead={"a", "b"})


def test_sizes() -> None:
    assert size_bytes("512m") == 512 * 1024**2 and size_bytes("1.5g") == int(1.5 * G) and size_bytes("7") == 7
    with pytest.raises(ValueError):
        size_bytes("lots")


def _config(evaluator: object = "cpu", **sandbox: object) -> RunConfig:
    return RunConfig.model_validate({"team": {"count": 3}, "sandbox": sandbox, "evaluator": {"device": evaluator}})


HOST = {"url": "unix:///var/run/docker.sock", "name": "here", "gpus": [0, 1], "cpus": 8, "memory": "32g"}


def test_the_config_carries_the_plan() -> None:
    config = _config(hosts=[HOST, {**HOST, "name": "there", "url": "ssh://aar@there", "gpus": 1}], gpus_each=1)
    assert config.host_plan() == {
        "agent-1": Placement("here", ("0",)),
        "agent-2": Placement("there", ("0",)),
        "agent-3": Placement("here", ("1",)),
    }
    assert _config().host_plan() == {}, "no hosts: today's behaviour, this machine's engine"


@pytest.mark.parametrize(
    ("sandbox", "said"),
    [
        ({"hosts": [HOST], "gpus_each": 1}, "no host has room for agent-3, which asks for 1 GPU"),
        ({"hosts": [{**HOST, "url": "tcp://node2:2376"}]}, "plain tcp://, which lets anyone on the network run as"),
        ({"hosts": [{**HOST, "url": "http://node2"}]}, "String should match pattern"),
        ({"hosts": [HOST, HOST]}, "here listed twice"),
        (
            {"hosts": [HOST, {**HOST, "name": "again", "url": "unix:///var/run/../run/docker.sock"}]},
            "here and again are the same engine (unix://",
        ),
        (
            {"evaluator": "cuda:1", "hosts": [HOST]},
            "here offers GPU 1 of this machine to sandboxes, and the evaluator uses cuda:1;",
        ),
        ({"evaluator": "auto", "hosts": [HOST]}, "here offers GPU 0 of this machine to sandboxes"),
        ({"hosts": [{**HOST, "gpus": [0, 0]}]}, "here lists a GPU id twice"),
        ({"hosts": [HOST], "gpus": "0"}, "set sandbox.gpus_each instead"),
        ({"hosts": [HOST], "backend": "local"}, 'set sandbox.backend = "docker"'),
        ({"gpus_each": 1}, "without hosts use sandbox.gpus"),
        ({"hosts": [{k: v for k, v in HOST.items() if k != "cpus"}]}, "cpus"),
        (
            {
                "hosts": [
                    {**HOST, "url": "ssh://me@node3", "tls": {"ca_cert": "a", "client_cert": "b", "client_key": "c"}}
                ]
            },
            "tls is for tcp:// engines only",
        ),
    ],
)
def test_bad_hosts_are_refused_when_the_config_loads(sandbox: dict[str, object], said: str) -> None:
    with pytest.raises(ValueError) as refused:
        _config(**sandbox)
    assert said in str(refused.value)


def test_tcp_with_tls_is_accepted() -> None:
    tls = {"ca_cert": "/certs/ca.pem", "client_cert": "/certs/cert.pem", "client_key": "/certs/key.pem"}
    config = _config(hosts=[{**HOST, "url": "tcp://node2:2376", "tls": tls, "name": "node2"}])
    assert config.sandbox.hosts[0].label == "node2"
    assert _config(hosts=[{k: v for k, v in HOST.items() if k != "name"}]).sandbox.hosts[0].label == HOST["url"]


def test_the_local_device_pool_and_hosts_do_not_mix() -> None:
    with pytest.raises(ValueError, match=r"with sandbox\.hosts, placement picks each agent's"):
        RunConfig.model_validate({"sandbox": {"hosts": [HOST]}, "devices": {"sandboxes": ["cuda:0"]}})


async def test_an_agent_the_hosts_have_no_room_for_gets_a_one_line_tool_error(store: RunStore, tmp_path: Path) -> None:
    """A branch made during the run is placed when it first runs; where no host has room, its sandbox fails
    in one line (an ``error`` event the supervisor sees), not the team."""
    config = _config(hosts=[{**HOST, "gpus": 3}], gpus_each=1).sandbox
    pool = HostPool(config, ["agent-1", "agent-2", "agent-3"])
    slot = SandboxSlot(config, store=store, agent="branch-1", run_id="r", workspace=tmp_path / "b", hosts=pool)
    with pytest.raises(SandboxError, match=r"^sandbox\.hosts: no host has room for branch-1, which asks for 1 GPU"):
        await slot.get()
    await store.flush()
    errors = [e.payload for e in await store.events_of(["error"], agent="branch-1")]
    assert len(errors) == 1 and isinstance(errors[0], ErrorRaised) and errors[0].where == "sandbox"
    assert "no host has room for branch-1" in errors[0].message
    with pytest.raises(SandboxError, match=r"no host has room for agent-1.*\(here gone\)"):
        pool.move("agent-1", "here")


def test_a_branch_is_refused_up_front_when_full_and_a_stopped_agent_frees_its_share() -> None:
    """The team asks ``room_problem`` before it makes a branch; a slot that closes releases its agent."""
    pool = HostPool(_config(hosts=[{**HOST, "gpus": 3}], gpus_each=1).sandbox, ["agent-1", "agent-2", "agent-3"])
    full = pool.room_problem("a branch of agent-1")
    assert full.startswith("sandbox.hosts: no host has room for a branch of agent-1, which asks for 1 GPU")
    assert "\n" not in full and "agent-4" not in pool.placed, "asking places nothing"
    pool.release("agent-2")
    assert pool.room_problem("a branch of agent-1") == ""
    assert pool.where("agent-2-b1").gpus == ("1",), "the stopped agent's GPU goes to the branch"


def test_relative_tls_files_are_found_beside_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(
        '[sandbox]\nbackend = "docker"\n[[sandbox.hosts]]\nurl = "tcp://node2:2376"\ncpus = 8\nmemory = "64g"\n'
        'tls = { ca_cert = "certs/ca.pem", client_cert = "/abs/cert.pem", client_key = "key.pem" }\n'
    )
    tls = load_config(tmp_path / "run.toml").sandbox.hosts[0].tls
    assert tls is not None
    assert (tls.ca_cert, tls.client_cert, tls.client_key) == (
        str(tmp_path / "certs/ca.pem"),
        "/abs/cert.pem",
        str(tmp_path / "key.pem"),
    )
