"""Docker-only behaviour against the real engine: hardening, limits, recovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import pytest

from aar.config import SandboxConfig
from sandbox.base import Sandbox, SandboxError, Stream
from sandbox.docker_backend import DockerSandbox, device_requests, visible_inside
from tests.sandbox.conftest import RunLayout

pytestmark = pytest.mark.docker  # and so slow (tests/conftest.py)


@pytest.fixture
def engine() -> docker.DockerClient:
    client = docker.from_env()
    yield client
    client.close()


@pytest.mark.parametrize("kind", ["docker", "docker-host"])
async def test_container_is_locked_down(
    make_sandbox: Callable[..., Sandbox], engine: docker.DockerClient, layout: RunLayout, kind: str
) -> None:
    """On this machine's engine and on one of ``sandbox.hosts`` alike."""
    box = make_sandbox(kind, memory="300m", cpus=0.5, pids=77)
    assert isinstance(box, DockerSandbox)
    result = await box.exec("id -u; cat /proc/self/status | grep CapEff; ls /workspace/..")
    assert result.ok
    uid, caps = result.stdout.splitlines()[:2]
    assert uid == str(box.uid) != "0" and caps.split()[-1] == "0000000000000000"
    if kind == "docker-host":
        assert box.host is not None
        with pytest.raises(docker.errors.NotFound):  # it runs on the other engine, not this one
            engine.api.inspect_container(box.container_name)
        engine = docker.DockerClient(base_url=box.host.url)
    attrs = engine.api.inspect_container(box.container_name)
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none" and host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
    assert host["Memory"] == 300 * 2**20 and host["MemorySwap"] == 300 * 2**20
    assert host["NanoCpus"] == 500_000_000 and host["PidsLimit"] == 77
    assert not host.get("Privileged") and not host.get("DeviceRequests")
    assert [(m["Source"], m["Destination"], m["RW"]) for m in attrs["Mounts"]] == [
        (str(layout.workspace.resolve()), "/workspace", True)
    ]
    assert attrs["Config"]["User"] == box.user
    assert all("ANTHROPIC" not in e for e in attrs["Config"]["Env"] or [])


@pytest.mark.parametrize("kind", ["docker", "docker-host"])
async def test_proxies_of_the_docker_cli_config_stay_out_of_the_container(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """docker-py copies ``proxies`` from ``~/.docker/config.json`` into every container it creates unless told
    not to; a proxy URL can carry credentials, and the sandbox gets nothing of the host's environment."""
    (tmp_path / "docker-config").mkdir()
    (tmp_path / "docker-config" / "config.json").write_text(
        '{"proxies": {"default": {"httpProxy": "http://user:secret@proxy:3128", "httpsProxy": "http://proxy:3128",'
        ' "noProxy": "localhost"}}}'
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    box = make_sandbox(kind)
    result = await box.exec("env")
    assert result.ok and "=" in result.stdout
    assert "proxy" not in result.stdout.lower() and "secret" not in result.stdout


async def test_fork_bomb_is_held_by_the_pids_limit(make_sandbox: Callable[..., Sandbox], layout: RunLayout) -> None:
    box = make_sandbox("docker", pids=48)
    await box.write_file("kept.txt", b"kept\n")
    began = time.monotonic()
    result = await box.exec("while :; do sleep 100 & done", timeout=3)
    assert result.timed_out and result.exit_code is None
    assert "Resource temporarily unavailable" in result.stderr, "the bomb must have hit the pids limit"
    assert time.monotonic() - began < 15
    after = await box.exec("cat kept.txt; ps | wc -l", timeout=15)
    assert after.ok and after.stdout.startswith("kept\n")
    assert int(after.stdout.split()[1]) < 10, "no bomb process survives"


async def test_memory_hog_is_killed_with_a_clear_result(make_sandbox: Callable[..., Sandbox]) -> None:
    box = make_sandbox("docker", memory="64m")
    lines: list[str] = []

    async def record(stream: str, line: str) -> None:
        lines.append(line)

    result = await box.exec(
        "dd if=/dev/zero of=/dev/null bs=300M count=1", on_output=record, timeout=30
    )  # dd holds a 300 MB buffer
    assert result.oom_killed and result.exit_code == 137 and not result.killed
    assert "out of memory (sandbox.memory = 64m)" in result.stderr and any("out of memory" in line for line in lines)
    small = await box.exec("dd if=/dev/zero of=/dev/null bs=8M count=1")
    assert small.ok and not small.oom_killed


@pytest.mark.parametrize("how", ["kill", "remove"])
async def test_dead_container_is_recreated_with_the_workspace(
    make_sandbox: Callable[..., Sandbox], engine: docker.DockerClient, layout: RunLayout, how: str
) -> None:
    box = make_sandbox("docker")
    assert isinstance(box, DockerSandbox)
    assert (await box.exec("echo precious > data.txt")).ok
    first = engine.containers.get(box.container_name)
    first.kill() if how == "kill" else first.remove(force=True)
    result = await box.exec("cat data.txt")
    assert result.stdout == "precious\n"
    assert layout.actions() == ["started", "recreated"]
    assert engine.containers.get(box.container_name).id != first.id
    detail = layout.events[-1].detail
    assert ("stopped" if how == "kill" else "removed") in detail


async def test_a_second_sandbox_adopts_the_running_container(
    make_sandbox: Callable[..., Sandbox], layout: RunLayout, docker_image: str
) -> None:
    owner = make_sandbox("docker")
    assert isinstance(owner, DockerSandbox)
    await owner.exec("true")
    guest = DockerSandbox(
        SandboxConfig(backend="docker", image=docker_image), name="agent-1", workspace=layout.workspace
    )
    await guest.start()
    assert guest.adopted and guest.container_name == owner.container_name
    assert (await guest.exec("echo from guest")).ok
    assert (await owner.exec("echo still here")).stdout == "still here\n"


async def test_missing_image_says_how_to_build_it(tmp_path: Path, docker_image: str) -> None:
    box = DockerSandbox(
        SandboxConfig(backend="docker", image="aar-no-such-image:never"), name="a", workspace=tmp_path / "ws"
    )
    with pytest.raises(SandboxError, match="aar sandbox build"):
        await box.start()


async def test_gpus_without_a_gpu_runtime_fail_with_a_clear_line(tmp_path: Path, docker_image: str) -> None:
    box = DockerSandbox(
        SandboxConfig(backend="docker", image=docker_image, gpus="0"), name="a", workspace=tmp_path / "ws"
    )
    try:
        await box.start()
    except SandboxError as exc:
        assert "sandbox.gpus" in str(exc) and "\n" not in str(exc)
        with pytest.raises(docker.errors.NotFound):  # nothing left behind
            docker.from_env().api.inspect_container(box.container_name)
    else:  # this engine has a GPU runtime: the request went through
        attrs = docker.from_env().api.inspect_container(box.container_name)
        assert attrs["HostConfig"]["DeviceRequests"][0]["DeviceIDs"] == ["0"]
    finally:
        await box.stop()


def test_gpu_setting_maps_to_device_requests() -> None:
    assert device_requests("none") == []
    (every,) = device_requests("all")
    assert every["Count"] == -1 and every["Capabilities"] == [["gpu"]]
    (some,) = device_requests("0,1")
    assert some["DeviceIDs"] == ["0", "1"] and some["Capabilities"] == [["gpu"]]
    (placed,) = device_requests("2,3")
    assert placed["DeviceIDs"] == ["2", "3"]
    # Inside, the engine numbers the GPUs it passed in from 0: CUDA_VISIBLE_DEVICES=2,3 there would hide them.
    assert [visible_inside(g) for g in ("none", "all", "0", "1", "2,3", "5,0,7")] == [
        "none",
        "all",
        "0",
        "0",
        "0,1",
        "0,1,2",
    ]


async def test_cancelled_exec_leaves_nothing_running(make_sandbox: Callable[..., Sandbox]) -> None:
    box = make_sandbox("docker")
    started = asyncio.Event()

    async def heard(stream: Stream, line: str) -> None:
        started.set()

    task = asyncio.create_task(box.exec("echo started; sleep 77", on_output=heard))
    await asyncio.wait_for(started.wait(), 60)  # the command runs in the container
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "sleep 77" not in (await box.exec("ps")).stdout
