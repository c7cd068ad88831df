"""Sandboxes on ``sandbox.hosts``: a run refuses, in one line, hosts that do not answer or lack the image, and an
agent whose host goes away gets its sandbox back on another host, with its workspace.

The hosts are real Docker engines on this machine (``tests.support.engines``), each on its own socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest

from aar.config import HostConfig, SandboxConfig
from aar.events import SandboxLifecycle
from aar.store import RunStore
from agents.sandbox_slot import SandboxSlot
from sandbox.base import SandboxError
from sandbox.docker_backend import ABANDON_TIMEOUT_S, DockerSandbox, abandon
from sandbox.factory import check_isolation
from sandbox.hosts import HostPool, answers, check_hosts
from tests.support.engines import Engine, make_ca, start_engine
from tests.support.waiting import eventually

pytestmark = pytest.mark.docker  # and so slow (tests/conftest.py)

LOCAL_ENGINE = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
"""This machine's engine, where the ``docker_image`` fixture found it."""


def _config(image: str, *hosts: object, **more: object) -> SandboxConfig:
    return SandboxConfig.model_validate({"backend": "docker", "image": image, "hosts": list(hosts)} | more)


def test_every_host_must_answer_and_hold_the_image(second_engine: Engine, tmp_path: Path) -> None:
    good = second_engine.host().model_dump()
    assert check_isolation(_config(second_engine.image, good)) == "docker"
    gone = {"url": f"unix://{tmp_path}/nothing.sock", "name": "gone", "cpus": 1, "memory": "1g"}
    with pytest.raises(SandboxError) as refused:
        check_isolation(_config(second_engine.image, good, gone))
    assert str(refused.value).startswith("sandbox.hosts: gone does not answer (") and "\n" not in str(refused.value)
    with pytest.raises(SandboxError) as refused:
        check_isolation(_config("aar-no-such-image:never", good))
    assert str(refused.value).startswith("sandbox.hosts: second has no image aar-no-such-image:never; load it there")


def test_an_engine_that_cannot_start_skips_with_its_log_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where dockerd cannot run (an unprivileged container), the tests that need a second engine skip, saying
    why, instead of erroring; no engine and no folder of it is left behind."""
    fake = tmp_path / "dockerd"
    fake.write_text("#!/bin/sh\necho 'failed to start daemon: operation not permitted' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr("shutil.which", lambda name: str(fake) if name == "dockerd" else None)
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.delenv("AAR_TEST_NO_DOCKER", raising=False)
    before = set(Path("/tmp").glob("aar-d2-*"))
    with pytest.raises(pytest.skip.Exception, match=r"it exited.*operation not permitted"):
        start_engine()
    assert set(Path("/tmp").glob("aar-d2-*")) <= before
    monkeypatch.setenv("AAR_TEST_NO_DOCKER", "1")
    with pytest.raises(pytest.skip.Exception, match="AAR_TEST_NO_DOCKER"):
        start_engine()


async def test_a_host_that_goes_away_gets_the_sandbox_recreated_elsewhere_with_its_workspace(
    store: RunStore, tmp_path: Path, docker_image: str
) -> None:
    doomed: Engine | None = None
    local = docker.from_env()
    slot: SandboxSlot | None = None
    try:
        doomed = start_engine()
        hosts = [doomed.host("doomed"), {"url": LOCAL_ENGINE, "name": "here", "cpus": 4, "memory": "4g"}]
        config = _config(docker_image, *hosts, memory="256m")
        await store.register_agent("agent-1", backend="scripted", model="m")
        pool = HostPool(config, ["agent-1"])
        assert pool.where("agent-1").host == "doomed"
        workspace = tmp_path / "workspaces" / "agent-1"
        slot = SandboxSlot(config, store=store, agent="agent-1", run_id="r1", workspace=workspace, hosts=pool)
        box = await slot.get()
        assert isinstance(box, DockerSandbox) and box.host_label == "doomed"
        assert (await box.exec("echo kept > notes.txt && mkdir -p out && echo 42 > out/n")).ok
        with pytest.raises(docker.errors.NotFound):
            local.api.inspect_container(box.container_name)

        doomed.stop()  # the node goes away mid-run, its container with it

        again = await (await slot.get()).exec("cat notes.txt out/n")
        assert again.ok and again.stdout == "kept\n42\n"
        assert box.host_label == "here" and pool.dead == {"doomed"}
        assert local.api.inspect_container(box.container_name)["State"]["Running"]
        await store.flush()
        seen = [
            (e.payload.action, e.payload.host)
            for e in await store.events_of(["sandbox.lifecycle"], agent="agent-1")
            if isinstance(e.payload, SandboxLifecycle)
        ]
        assert seen == [("started", "doomed"), ("failed", "doomed"), ("recreated", "here")]
    finally:
        if slot is not None:
            await slot.close()
        local.close()
        if doomed is not None:
            doomed.remove()


@pytest.fixture
def silent_socket() -> Iterator[Path]:
    """A unix socket that accepts every connection and never says a word: a host behind a partition."""
    folder = Path(tempfile.mkdtemp(prefix="aar-silent-", dir="/tmp"))  # short: a socket path has a length limit
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(folder / "silent.sock"))
    server.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield folder / "silent.sock"
    finally:
        server.close()
        for conn in held:
            conn.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_host_that_accepts_but_never_answers_fails_the_check_within_its_deadline(
    silent_socket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config("any:image", {"url": f"unix://{silent_socket}", "name": "silent", "cpus": 1, "memory": "1g"})
    began = time.monotonic()
    with pytest.raises(SandboxError) as refused:
        check_hosts(config, timeout=1)
    assert time.monotonic() - began < 3
    said = str(refused.value)
    assert said.startswith("sandbox.hosts: silent does not answer") and "\n" not in said
    assert not answers(config.hosts[0], timeout=1)
    assert time.monotonic() - began < 5

    def ignores_timeouts(host: object, *, timeout: float | None) -> object:  # as docker-py's ssh:// client does
        time.sleep(30)
        raise AssertionError("never reached in time")

    monkeypatch.setattr("sandbox.hosts.docker_client", ignores_timeouts)
    began = time.monotonic()
    with pytest.raises(SandboxError, match=r"^sandbox.hosts: silent does not answer within 2 s"):
        check_hosts(config, timeout=1)
    assert not answers(config.hosts[0], timeout=1)
    assert time.monotonic() - began < 4


async def test_a_quiet_command_outlasts_the_request_timeout(
    second_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every request to a host is bounded, but a command's output stream waits as long as the command is quiet."""
    monkeypatch.setattr("sandbox.docker_backend.API_TIMEOUT_S", 1)
    config = _config(second_engine.image, second_engine.host().model_dump())
    box = DockerSandbox(config, name="a", workspace=tmp_path / "ws", host=config.hosts[0])
    try:
        result = await box.exec("sleep 3; echo woke")
        assert result.ok and result.stdout == "woke\n"
    finally:
        await box.stop()


@dataclass
class OnDoomed:
    """agent-1's slot, placed on ``doomed`` (a fresh engine of its own) with this machine's engine to move to."""

    doomed: Engine
    pool: HostPool
    slot: SandboxSlot


@contextlib.asynccontextmanager
async def on_doomed(store: RunStore, workspace: Path, image: str) -> AsyncIterator[OnDoomed]:
    doomed: Engine | None = None
    slot: SandboxSlot | None = None
    try:
        doomed = start_engine()
        here = {"url": LOCAL_ENGINE, "name": "here", "cpus": 4, "memory": "4g"}
        config = _config(image, doomed.host("doomed"), here, memory="256m")
        await store.register_agent("agent-1", backend="scripted", model="m")
        pool = HostPool(config, ["agent-1"])
        slot = SandboxSlot(config, store=store, agent="agent-1", run_id="r1", workspace=workspace, hosts=pool)
        yield OnDoomed(doomed, pool, slot)
    finally:
        if slot is not None:
            await slot.close()
        if doomed is not None:
            doomed.remove()


async def _lifecycle(store: RunStore, agent: str) -> list[tuple[str, str]]:
    await store.flush()
    return [
        (e.payload.action, e.payload.host)
        for e in await store.events_of(["sandbox.lifecycle"], agent=agent)
        if isinstance(e.payload, SandboxLifecycle)
    ]


async def test_a_host_gone_before_the_sandbox_starts_places_it_elsewhere_and_it_counts_as_started(
    store: RunStore, tmp_path: Path, docker_image: str
) -> None:
    async with on_doomed(store, tmp_path / "ws", docker_image) as run:
        run.doomed.stop()
        box = await run.slot.get()
        assert isinstance(box, DockerSandbox) and box.host_label == "here" and run.pool.dead == {"doomed"}
        assert (await box.exec("echo ran")).stdout == "ran\n"
        assert await _lifecycle(store, "agent-1") == [("failed", "doomed"), ("started", "here")]
        row = await store.agent("agent-1")
        assert row is not None and row.isolation == "docker", "the agent row gets its isolation"


async def test_commands_that_find_the_host_gone_together_move_the_sandbox_once_and_a_blip_moves_nothing(
    store: RunStore, tmp_path: Path, docker_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with on_doomed(store, tmp_path / "ws", docker_image) as run:
        box = await run.slot.get()
        assert isinstance(box, DockerSandbox) and box.host_label == "doomed"
        run.doomed.stop()

        with monkeypatch.context() as blip:  # the host answers the second ping: one failure is not a host gone
            blip.setattr("sandbox.docker_backend.answers", lambda host: True)
            with pytest.raises(SandboxError, match=r"^sandbox.hosts: doomed does not answer"):
                await box.exec("echo never")
        assert box.host_label == "doomed" and run.pool.dead == set()

        done = await asyncio.gather(*(box.exec(f"echo {n}") for n in range(3)))
        assert [r.stdout for r in done] == ["0\n", "1\n", "2\n"]
        assert box.host_label == "here" and run.pool.dead == {"doomed"}, "moved once, and not off the new host"
        assert await _lifecycle(store, "agent-1") == [
            ("started", "doomed"),
            ("failed", "doomed"),
            ("recreated", "here"),
        ]


async def test_a_container_left_on_a_host_given_up_on_is_removed_if_it_answers(
    second_engine: Engine, tmp_path: Path, silent_socket: Path
) -> None:
    config = _config(second_engine.image, second_engine.host().model_dump())
    box = DockerSandbox(config, name="a", workspace=tmp_path / "ws", host=config.hosts[0])
    await box.start()
    await asyncio.to_thread(abandon, config.hosts[0], box.container_name)
    client = docker.DockerClient(base_url=second_engine.url)
    try:
        with pytest.raises(docker.errors.NotFound):
            client.api.inspect_container(box.container_name)
    finally:
        client.close()
    silent = HostConfig.model_validate({"url": f"unix://{silent_socket}", "name": "silent", "cpus": 1, "memory": "1g"})
    began = time.monotonic()
    await asyncio.to_thread(abandon, silent, box.container_name)  # best effort, and short
    assert time.monotonic() - began < ABANDON_TIMEOUT_S + 1


async def test_a_hosts_own_failures_name_the_host_and_what_to_do_there(second_engine: Engine, tmp_path: Path) -> None:
    config = _config("aar-no-such-image:never", second_engine.host().model_dump())
    box = DockerSandbox(config, name="a", workspace=tmp_path / "ws", host=config.hosts[0])
    with pytest.raises(SandboxError, match=r"^sandbox.hosts: second has no image aar-no-such-image:never; load it"):
        await box.start()
    with_gpu = _config(second_engine.image, second_engine.host().model_dump()).model_copy(update={"gpus": "0"})
    box = DockerSandbox(with_gpu, name="a", workspace=tmp_path / "ws", host=with_gpu.hosts[0])
    try:
        await box.start()
    except SandboxError as exc:  # the test engine has no GPU runtime (unless nvidia's is its default)
        said = str(exc)
        assert said.startswith("sandbox.hosts: second has no GPU runtime") and "gpus = 0" in said, said
    finally:
        await box.stop()


async def test_with_no_host_left_the_command_fails_in_one_line(second_engine: Engine, tmp_path: Path) -> None:
    """A sandbox without a placement to fall back on (``aar exec``) says its host is gone; it does not hang."""
    config = _config(second_engine.image, {"url": f"unix://{tmp_path}/nothing.sock", "cpus": 1, "memory": "1g"})
    box = DockerSandbox(config, name="a", workspace=tmp_path / "ws", host=config.hosts[0])
    with pytest.raises(SandboxError, match=r"^sandbox.hosts: unix://.*/nothing.sock does not answer \("):
        await box.start()


async def test_a_host_that_does_not_share_the_workspace_is_refused(docker_image: str) -> None:
    shared = Path(tempfile.mkdtemp(prefix="aar-shared-"))
    elsewhere: Engine | None = None
    try:
        elsewhere = start_engine(hiding=shared)
        config = _config(elsewhere.image, elsewhere.host("elsewhere").model_dump())
        box = DockerSandbox(config, name="a", workspace=shared / "ws", host=config.hosts[0])
        with pytest.raises(SandboxError) as refused:
            await box.start()
        assert str(refused.value).startswith(f"sandbox.hosts: elsewhere does not see {shared / 'ws'} as this machine")
        assert "NFS" in str(refused.value)
        client = docker.DockerClient(base_url=elsewhere.url)
        try:
            assert client.containers.list(all=True) == [], "the refused container is not left behind"
        finally:
            client.close()
    finally:
        if elsewhere is not None:
            elsewhere.remove()
        subprocess.run(["rm", "-rf", str(shared)], check=False)


RUN = """
[run]
name = "hosts"
runs_dir = "{runs}"

[team]
count = 2

[sandbox]
backend = "docker"
image = "{image}"
gpus_each = {gpus_each}
memory = "256m"

[evaluator]
device = "cpu"   # the hosts here are this machine's engines: their GPUs are not the evaluator's

[[sandbox.hosts]]
name = "node-2"
url = "{url}"
gpus = 1
cpus = 2
memory = "2g"
"""

GONE_HOST = """
[[sandbox.hosts]]
name = "gone"
url = "unix://{base}/nothing.sock"
gpus = 1
cpus = 2
memory = "2g"
"""


@pytest.mark.parametrize(
    ("gpus_each", "gone", "said"),
    [
        (0, True, "sandbox.hosts: gone does not answer ("),
        (1, False, "sandbox.hosts: no host has room for agent-2, which asks for 1 GPU"),
    ],
    ids=["a host that does not answer", "not enough GPUs"],
)
def test_aar_run_refuses_bad_hosts_in_one_line_before_the_run_exists(
    second_engine: Engine, tmp_path: Path, docker_image: str, gpus_each: int, gone: bool, said: str
) -> None:
    runs = tmp_path / "runs"
    text = RUN.format(runs=runs, image=docker_image, url=second_engine.url, gpus_each=gpus_each)
    config = tmp_path / "hosts.toml"
    config.write_text(text + (GONE_HOST.format(base=tmp_path) if gone else ""))
    done = subprocess.run(
        [sys.executable, "-m", "aar_app.cli", "run", str(config), "--headless"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ},
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], lines
    assert not runs.exists() or not any(runs.iterdir()), "no run folder is made for a run that cannot start"


async def test_a_tcp_host_is_reached_over_tls_verified_both_ways(docker_image: str, tmp_path: Path) -> None:
    node = start_engine(tls=True)
    try:
        host = node.host("tls-node", over_tls=True)
        assert host.url.startswith("tcp://127.0.0.1:") and host.tls is not None
        config = _config(node.image, host.model_dump())
        assert check_isolation(config) == "docker"
        box = DockerSandbox(config, name="a", workspace=tmp_path / "ws", host=config.hosts[0])
        try:
            result = await box.exec("id -u; echo over-tls > made")
            assert result.ok and result.stdout.strip() == str(box.uid)
            assert (tmp_path / "ws" / "made").read_text() == "over-tls\n"
        finally:
            await box.stop()
        make_ca(tmp_path / "other", "ca")  # an engine this CA did not sign is not the engine we meant
        stranger = host.model_copy(
            update={"tls": host.tls.model_copy(update={"ca_cert": str(tmp_path / "other/ca.pem")})}
        )
        with pytest.raises(SandboxError, match=r"^sandbox.hosts: tls-node: the TLS handshake failed \(certificate"):
            check_isolation(_config(node.image, stranger.model_dump()))
    finally:
        node.remove()


async def test_a_host_that_goes_away_during_a_command_says_so_and_the_next_runs_elsewhere(
    tmp_path: Path, docker_image: str
) -> None:
    doomed = start_engine()
    try:
        config = _config(
            docker_image, doomed.host("doomed"), {"url": LOCAL_ENGINE, "name": "here", "cpus": 4, "memory": "4g"}
        )
        pool = HostPool(config, ["a"])

        def relocate(gone: str) -> tuple[HostConfig, SandboxConfig]:
            placed = pool.move("a", gone)
            return pool.hosts[placed.host], pool.config_for(placed)

        box = DockerSandbox(config, name="a", workspace=tmp_path / "ws", host=config.hosts[0], relocate=relocate)
        try:
            running = asyncio.create_task(box.exec("echo begun > begun; sleep 600", timeout=300))
            await eventually(lambda: (tmp_path / "ws" / "begun").exists(), timeout=30, what="the command to start")
            assert doomed.process is not None
            doomed.process.kill()  # abruptly: no engine left to stop the container or end the stream cleanly
            with pytest.raises(SandboxError, match=r"^sandbox.hosts: doomed went away during the command"):
                await asyncio.wait_for(running, 60)
            after = await box.exec("cat begun")
            assert after.ok and after.stdout == "begun\n" and box.host_label == "here"
        finally:
            await box.stop()
    finally:
        doomed.remove()
