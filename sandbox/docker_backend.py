"""The ``docker`` backend: one long-lived container per agent, commands run by exec.

The container has no network unless the config allows it, memory, CPU and
pid limits, a non-root user, no capabilities, ``no-new-privileges``, GPUs
only through device requests, and one mount: the workspace, read-write at
``/workspace``. Nothing of the host's environment is passed in.

Every blocking SDK call runs off the event loop. No process of a command
outlives it: when the command returns, every process that carries its token
is killed (from a second exec), so a ``setsid`` child left behind cannot race
the host's file tools or hold the workspace. A container that died or was
removed is noticed when the next exec cannot be created; it is then recreated
on the same workspace and a ``SandboxLifecycle(action="recreated")`` event
says so. A second ``DockerSandbox`` on the same workspace (``aar exec`` while
the daemon runs) adopts the running container instead of replacing it.

On one of ``sandbox.hosts`` the container runs on that host's engine under
the same policy, and the workspace is bind-mounted from the same path there,
so it must be on storage every host mounts alike: each start checks that the
container sees a file just written on this side. A host whose engine stops
answering makes the sandbox ``failed``; with ``relocate`` (the run's
placement) it is then recreated on another host, on the same workspace.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from aar.config import HostConfig, SandboxConfig
from sandbox.base import EventCallback, ExecResult, OutputCallback, Sandbox, SandboxError
from sandbox.docker_stream import ExecStream, kill_tokens, oom_kills
from sandbox.files import INSIDE_ROOT, HostFiles, Workspace
from sandbox.hosts import (
    API_TIMEOUT_S,
    answers,
    docker_client,
    is_gone,
    missing_image,
    sees_workspace,
    unreachable,
    within,
)
from sandbox.output import OutputPump
from sandbox.policy import MARKER_VAR, ExecState, as_argv, base_env, emit_lifecycle, inside_cwd, memory_bytes

KEEPALIVE = ["sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]
"""The container's pid 1: idles, reaps orphans, stops at once on ``docker stop``."""
RECHECK_S = 1.0
"""After a call to a host fails as if it had gone, how long before the ping that decides it has."""
ABANDON_TIMEOUT_S = 5
"""How long to try to remove the container on a host given up on (best effort: it may be back, and writing)."""
KILL_GRACE_S = 3.0
"""After the kill exec, how long the command's output may take to end before the container is killed."""
SANDBOX_UID = 1000

Relocate = Callable[[str], tuple[HostConfig, SandboxConfig]]
"""Given the host that went away, where the sandbox goes now and its settings there (raises ``SandboxError``)."""


class HostGone(SandboxError):
    """The engine of the sandbox's host does not answer."""


def abandon(host: HostConfig, container: str) -> None:
    """Remove ``container`` from a host given up on, if it answers at all within a few seconds: a host that was
    only cut off for a while must not keep an old container writing to the shared workspace or holding GPUs."""

    def remove() -> str:
        with contextlib.suppress(Exception):
            client = docker_client(host, timeout=ABANDON_TIMEOUT_S)
            try:
                client.api.remove_container(container, force=True)
            finally:
                client.close()
        return ""

    within(ABANDON_TIMEOUT_S, remove, "late")


def container_name(name: str, workspace: Path) -> str:
    """Stable per workspace, so the daemon and ``aar exec`` find the same container."""
    slug = re.sub(r"[^a-zA-Z0-9_.-]", "-", name)[:40]
    digest = hashlib.sha1(str(workspace.resolve()).encode()).hexdigest()[:10]
    return f"aar-{slug}-{digest}"


def device_requests(gpus: str) -> list[Any]:
    """``sandbox.gpus`` as Docker device requests: ``all``, ``none`` or ``0,1``."""
    from docker.types import DeviceRequest

    if gpus == "none":
        return []
    if gpus == "all":
        return [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    return [DeviceRequest(device_ids=gpus.split(","), capabilities=[["gpu"]])]


def visible_inside(gpus: str) -> str:
    """``sandbox.gpus`` as the container sees it: the engine passes only the requested GPUs in, numbered from 0
    (``2,3`` outside is ``0,1`` inside), so ``CUDA_VISIBLE_DEVICES`` must name them that way or hide them all."""
    if gpus in ("none", "all"):
        return gpus
    return ",".join(str(i) for i in range(len(gpus.split(","))))


class DockerSandbox(HostFiles, Sandbox):
    backend = "docker"
    isolation = "docker"

    def __init__(
        self,
        config: SandboxConfig,
        *,
        name: str,
        workspace: Path,
        on_event: EventCallback | None = None,
        host: HostConfig | None = None,
        relocate: Relocate | None = None,
    ) -> None:
        super().__init__(name, workspace)
        self.config = config
        self.on_event = on_event
        self.host = host
        """One of ``sandbox.hosts``; None for this machine's engine."""
        self.relocate = relocate
        self.container_name = container_name(name, workspace)
        host_uid = os.getuid()
        self.uid, self.gid = (host_uid, os.getgid()) if host_uid != 0 else (SANDBOX_UID, SANDBOX_UID)
        self.user = f"{self.uid}:{self.gid}"
        self.files = Workspace(workspace, owner=(self.uid, self.gid) if host_uid == 0 else None)
        self.adopted = False
        """True when ``start`` found this workspace's container already running (another process owns it)."""
        self._client: Any = None
        self._stream_client: Any = None
        self._container_id: str | None = None
        self._oom_seen = 0
        self._killed_why = ""
        """Why we killed the container ourselves, for the next ``recreated`` event."""
        self._running: dict[str, tuple[ExecState, ExecStream]] = {}
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ lifecycle

    @property
    def host_label(self) -> str:
        return self.host.label if self.host is not None else ""

    def _api(self) -> Any:
        if self._client is None:
            try:
                self._client = docker_client(self.host, timeout=API_TIMEOUT_S)
                self._client.ping()
                # The commands' own client (a stream holds its connection). Its timeout bounds exec_create and
                # exec_inspect; a quiet command's stream is not held to it (ExecStream: keepalive instead).
                self._stream_client = docker_client(self.host, timeout=API_TIMEOUT_S)
            except Exception as exc:
                self._client = None
                if self.host is not None:
                    raise HostGone(unreachable(self.host, exc)) from None
                raise SandboxError(
                    f'no Docker engine answers ({exc.__class__.__name__}); start dockerd or set sandbox.backend = "local"'
                ) from None
        return self._client.api

    async def start(self) -> None:
        for attempt in (1, 2):
            async with self._lock:
                if self._container_id is not None:
                    return
                host = self.host
                try:
                    detail = await asyncio.to_thread(self._ensure)
                except HostGone as exc:
                    if self.relocate is None or attempt == 2:
                        raise
                    gone = exc
                else:
                    await emit_lifecycle(
                        self.on_event, "started", self.backend, self.isolation, detail, host=self.host_label
                    )
                    return
            # placed on a host that went away before it started: place it again (a blip: try it again)
            await self._rehome(str(gone), host, action="started")

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        """On one of ``sandbox.hosts``, an engine that does not answer (refused, reset, timed out) raises
        ``HostGone``, which places the sandbox again elsewhere, not a raw requests error that crashes the agent."""
        try:
            yield
        except SandboxError:
            raise
        except Exception as exc:
            if self.host is None or not is_gone(exc):
                raise
            raise HostGone(unreachable(self.host, exc)) from None

    def _ensure(self) -> str:
        with self._answering():
            return self._ensure_container()

    def _ensure_container(self) -> str:
        import docker.errors

        api = self._api()
        try:
            api.inspect_image(self.config.image)
        except docker.errors.ImageNotFound:
            if self.host is not None:
                raise SandboxError(missing_image(self.host, self.config.image)) from None
            raise SandboxError(
                f"Docker image {self.config.image} not found; build it with `aar sandbox build` or set sandbox.image"
            ) from None
        try:
            info = api.inspect_container(self.container_name)
        except docker.errors.NotFound:
            info = None
        if info and info["State"].get("Running") and info["Config"].get("Image") == self.config.image:
            self._container_id, self.adopted = info["Id"], True
            self._oom_seen = oom_kills(api, info["Id"], self.user)
            return f"adopted running container {self.container_name}{self._on_host()}"
        self._create()
        return f"container {self.container_name}, image {self.config.image}{self._on_host()}"

    def _on_host(self) -> str:
        return f" on host {self.host_label}" if self.host is not None else ""

    def _create(self) -> None:
        with self._answering():
            self._create_container()

    def _create_container(self) -> None:
        import docker.errors

        api = self._api()
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(self.container_name, force=True)
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.files.chown_all()
        config = self.config
        memory = memory_bytes(config.memory)
        try:
            container = self._client.containers.run(
                config.image,
                KEEPALIVE,
                name=self.container_name,
                detach=True,
                user=self.user,
                working_dir=INSIDE_ROOT,
                environment=base_env(home=INSIDE_ROOT, path=None, gpus=visible_inside(config.gpus)),
                network_mode="bridge" if config.network else "none",
                mem_limit=memory,
                memswap_limit=memory,
                nano_cpus=int(config.cpus * 1e9),
                pids_limit=config.pids,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                device_requests=device_requests(config.gpus),
                volumes={str(self.workspace.resolve()): {"bind": INSIDE_ROOT, "mode": "rw"}},
                labels={"aar.sandbox": self.name, "aar.workspace": str(self.workspace.resolve())},
                hostname="sandbox",
                use_config_proxy=False,  # else docker-py copies the CLI config's proxies (credentials) in
            )
        except docker.errors.APIError as exc:
            with contextlib.suppress(docker.errors.APIError):  # created but not started: do not leave it behind
                api.remove_container(self.container_name, force=True)
            if config.gpus != "none" and ("gpu" in str(exc).lower() or "device driver" in str(exc)):
                if self.host is not None:
                    raise SandboxError(
                        f"sandbox.hosts: {self.host_label} has no GPU runtime for its sandboxes' GPUs; install"
                        " nvidia-container-toolkit on that host, or set its gpus = 0 there (and sandbox.gpus_each = 0)"
                    ) from None
                raise SandboxError(
                    f'sandbox.gpus = {config.gpus!r} but this Docker engine has no GPU runtime; install nvidia-container-toolkit or set sandbox.gpus = "none"'
                ) from None
            raise SandboxError(f"could not start container {self.container_name}: {exc.explanation or exc}") from None
        self._container_id = container.id
        self._oom_seen = 0
        self._killed_why = ""
        self.adopted = False
        if self.host is not None:
            self._check_shared_workspace()

    def _check_shared_workspace(self) -> None:
        """The container must see this side's workspace: a host that mounts other storage at that path (or none)
        would have the agent work in a folder that aar's file tools, snapshots and the evaluator never see."""
        api = self._api()
        try:
            seen = sees_workspace(api, self._started_id, self.user, self.workspace)
        except BaseException:  # the host went away just now: do not leave the container behind either
            seen = False
            raise
        finally:
            if not seen:
                with contextlib.suppress(Exception):
                    api.remove_container(self._container_id, force=True)
                self._container_id = None
        if not seen:
            raise SandboxError(
                f"sandbox.hosts: {self.host_label} does not see {self.workspace} as this machine does; put the run's"
                f" workspaces folder ({self.workspace.parent}) on storage every host mounts at the same path (NFS"
                " or similar)"
            )

    def _drop_clients(self) -> None:
        for client in (self._client, self._stream_client):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        self._client = self._stream_client = None

    async def _rehome(
        self, why: str, failed: HostConfig | None, *, action: Literal["started", "recreated"] = "recreated"
    ) -> None:
        """``failed``, the host a call just failed on, went away: recreate the sandbox where the run's placement
        says now. Not on one failure: the host must also miss a ping after a short wait (else the clients are
        made again and the caller tries once more there); and not twice: a command that failed on the same
        host while another moved the sandbox finds it moved and goes on there."""
        assert self.relocate is not None
        async with self._lock:
            if self.host is not failed or failed is None:
                return  # moved already, by a command that failed at the same time
            self._drop_clients()
            await asyncio.sleep(RECHECK_S)
            if await asyncio.to_thread(answers, failed):
                return  # a blip, not a host gone: it stays here
            old = failed.label
            await emit_lifecycle(self.on_event, "failed", self.backend, self.isolation, why, host=old)
            self.host, self.config = self.relocate(old)
            self._container_id = None
            await asyncio.to_thread(abandon, failed, self.container_name)  # by name: also one half made
            await asyncio.to_thread(self._create)
        detail = f"container {self.container_name}, image {self.config.image} on host {self.host_label}: host {old}"
        detail += " does not answer; workspace kept"
        await emit_lifecycle(self.on_event, action, self.backend, self.isolation, detail, host=self.host_label)

    async def _recreate(self, why: str) -> None:
        async with self._lock:
            await asyncio.to_thread(self._create)
        detail = f"{why}; workspace kept"
        await emit_lifecycle(self.on_event, "recreated", self.backend, self.isolation, detail, host=self.host_label)

    async def stop(self) -> None:
        import docker.errors

        await self.interrupt()
        if self._container_id is None:
            self._drop_clients()
            return
        container, self._container_id = self._container_id, None
        try:
            await asyncio.to_thread(self._api().remove_container, container, force=True)
        except docker.errors.NotFound:
            pass
        except Exception as exc:
            if not (isinstance(exc, HostGone) or is_gone(exc)):
                raise
            # A host that went away took its container with it: nothing is left to remove.
        finally:
            self._drop_clients()  # their connections (a host's TLS or ssh session) end with the sandbox
        await emit_lifecycle(self.on_event, "stopped", self.backend, self.isolation, host=self.host_label)

    # ------------------------------------------------------------ commands

    def _stream_api(self) -> Any:
        """The commands' client (made again, with the other, after a host's clients were dropped)."""
        self._api()
        return self._stream_client.api

    def _exec_create(self, argv: list[str], **options: Any) -> Any:
        return self._stream_api().exec_create(self._started_id, argv, **options)

    async def _open_exec(self, argv: list[str], environment: dict[str, str], workdir: str) -> str:
        """Create the exec, recreating the container once if it died or was removed."""
        import docker.errors

        await self.start()
        for attempt in (1, 2):
            host = self.host
            try:
                created = await asyncio.to_thread(
                    self._exec_create,
                    argv,
                    user=self.user,
                    environment=environment,
                    workdir=workdir,
                )
                return str(created["Id"])
            except docker.errors.NotFound:
                why = "the container was removed"
            except docker.errors.APIError as exc:
                if exc.status_code != 409 or attempt == 2:
                    raise SandboxError(
                        f"could not run the command in {self.container_name}: {exc.explanation or exc}"
                    ) from None
                why = self._killed_why or "the container had stopped"
            except Exception as exc:
                if isinstance(exc, HostGone):
                    why = str(exc)
                elif is_gone(exc) and self.host is not None:
                    why = f"sandbox.hosts: {self.host_label} does not answer ({exc.__class__.__name__})"
                else:
                    raise
                if self.relocate is None or attempt == 2:
                    raise HostGone(why) from None
                await self._rehome(why, host)
                continue
            await self._recreate(why)
        raise SandboxError(f"could not run the command in {self.container_name}")

    async def exec(
        self,
        command: str | list[str],
        *,
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        keep_bytes: int = 64_000,
    ) -> ExecResult:
        state = ExecState(token=uuid.uuid4().hex)
        environment = (
            base_env(home=INSIDE_ROOT, path=None, gpus=visible_inside(self.config.gpus))
            | (env or {})
            | {MARKER_VAR: state.token}
        )
        exec_id = await self._open_exec(as_argv(command), environment, inside_cwd(cwd))
        stream = ExecStream(self._stream_api(), exec_id)
        pump = OutputPump(on_output, keep_bytes)
        self._running[state.token] = (state, stream)
        stream.start()
        consumer = asyncio.create_task(stream.pump_into(pump))
        try:
            try:
                await asyncio.wait_for(asyncio.shield(consumer), timeout)
            except TimeoutError:
                state.timed_out = True
                await self._kill([state.token])
            await consumer
        finally:
            self._running.pop(state.token, None)
            if not consumer.done():  # cancelled: never leave the command running
                state.killed = True
                consumer.cancel()
                await asyncio.shield(self._kill([state.token]))
            stream.abort()
        # Whatever the command left running (``setsid``, a double fork) dies with it: read the exit
        # code and sweep its token at once, so the sweep costs no more than the inspect.
        exit_code, _ = await asyncio.gather(asyncio.to_thread(stream.exit_code), self._kill([state.token]))
        if exit_code is None and not (state.killed or state.timed_out) and await self._host_went_away():
            await pump.finish()
            after = "; the next command runs on another host" if self.relocate is not None else ""
            raise HostGone(f"sandbox.hosts: {self.host_label} went away during the command{after}")
        if exit_code == 137 and not (state.killed or state.timed_out):
            await self._check_oom(state, pump)
        await pump.finish()
        return state.result(exit_code, pump.tail("stdout"), pump.tail("stderr"), pump.total)

    async def _host_went_away(self) -> bool:
        """On one of ``sandbox.hosts``: its engine no longer answers (a command's end without an exit code)."""
        return self.host is not None and not await asyncio.to_thread(answers, self.host)

    async def _check_oom(self, state: ExecState, pump: OutputPump) -> None:
        with contextlib.suppress(Exception):
            seen = await asyncio.to_thread(oom_kills, self._api(), self._started_id, self.user)
            if seen > self._oom_seen:
                self._oom_seen = seen
                state.oom_killed = True
                await pump.note("stderr", f"[aar] killed: out of memory (sandbox.memory = {self.config.memory})")

    async def _kill(self, tokens: list[str]) -> None:
        """Kill the commands' trees; if that fails or they linger, kill the container (recreated on next exec)."""
        streams = [self._running[t][1] for t in tokens if t in self._running]
        try:
            await asyncio.wait_for(
                asyncio.to_thread(kill_tokens, self._api(), self._started_id, self.user, tokens), KILL_GRACE_S
            )
            await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in streams)), KILL_GRACE_S)
        except Exception:
            self._killed_why = "killed by aar: a command could not be stopped inside it (every pid in use?)"
            await self._kill_container()
            for stream in streams:
                stream.abort()

    @property
    def _started_id(self) -> str:
        """The container's id; a sandbox that has none (never started, or stopped) raises."""
        if self._container_id is None:
            raise SandboxError(f"{self.name}: the sandbox's container is not running")
        return self._container_id

    async def _kill_container(self) -> None:
        if self._container_id is None:
            return
        api = self._api()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(api.kill, self._container_id)
            await asyncio.to_thread(api.wait, self._container_id, timeout=10)

    async def interrupt(self) -> bool:
        running = list(self._running.items())
        for _, (state, _) in running:
            state.killed = True
        if running:
            await self._kill([token for token, _ in running])
        return bool(running)
