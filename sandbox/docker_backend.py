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
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import uuid
from pathlib import Path
from typing import Any

from aar.config import SandboxConfig
from sandbox.base import EventCallback, ExecResult, OutputCallback, Sandbox, SandboxError
from sandbox.docker_stream import ExecStream, kill_tokens, oom_kills
from sandbox.files import INSIDE_ROOT, HostFiles, Workspace
from sandbox.output import OutputPump
from sandbox.policy import MARKER_VAR, ExecState, as_argv, base_env, emit_lifecycle, inside_cwd, memory_bytes

KEEPALIVE = ["sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]
"""The container's pid 1: idles, reaps orphans, stops at once on ``docker stop``."""
KILL_GRACE_S = 3.0
"""After the kill exec, how long the command's output may take to end before the container is killed."""
SANDBOX_UID = 1000


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


class DockerSandbox(HostFiles, Sandbox):
    backend = "docker"
    isolation = "docker"

    def __init__(
        self, config: SandboxConfig, *, name: str, workspace: Path, on_event: EventCallback | None = None
    ) -> None:
        super().__init__(name, workspace)
        self.config = config
        self.on_event = on_event
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

    def _api(self) -> Any:
        if self._client is None:
            import docker

            try:
                self._client = docker.from_env(timeout=120)
                self._client.ping()
                self._stream_client = docker.from_env(timeout=None)  # a quiet command must not time the stream out
            except Exception as exc:
                self._client = None
                raise SandboxError(
                    f'no Docker engine answers ({exc.__class__.__name__}); start dockerd or set sandbox.backend = "local"'
                ) from None
        return self._client.api

    async def start(self) -> None:
        async with self._lock:
            if self._container_id is not None:
                return
            detail = await asyncio.to_thread(self._ensure)
        await emit_lifecycle(self.on_event, "started", self.backend, self.isolation, detail)

    def _ensure(self) -> str:
        import docker.errors

        api = self._api()
        try:
            api.inspect_image(self.config.image)
        except docker.errors.ImageNotFound:
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
            return f"adopted running container {self.container_name}"
        self._create()
        return f"container {self.container_name}, image {self.config.image}"

    def _create(self) -> None:
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
                environment=base_env(home=INSIDE_ROOT, path=None, gpus=config.gpus),
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
            )
        except docker.errors.APIError as exc:
            with contextlib.suppress(docker.errors.APIError):  # created but not started: do not leave it behind
                api.remove_container(self.container_name, force=True)
            if config.gpus != "none" and ("gpu" in str(exc).lower() or "device driver" in str(exc)):
                raise SandboxError(
                    f'sandbox.gpus = {config.gpus!r} but this Docker engine has no GPU runtime; install nvidia-container-toolkit or set sandbox.gpus = "none"'
                ) from None
            raise SandboxError(f"could not start container {self.container_name}: {exc.explanation or exc}") from None
        self._container_id = container.id
        self._oom_seen = 0
        self._killed_why = ""
        self.adopted = False

    async def _recreate(self, why: str) -> None:
        async with self._lock:
            await asyncio.to_thread(self._create)
        await emit_lifecycle(self.on_event, "recreated", self.backend, self.isolation, f"{why}; workspace kept")

    async def stop(self) -> None:
        import docker.errors

        await self.interrupt()
        if self._container_id is None:
            return
        container, self._container_id = self._container_id, None
        with contextlib.suppress(docker.errors.NotFound):
            await asyncio.to_thread(self._api().remove_container, container, force=True)
        await emit_lifecycle(self.on_event, "stopped", self.backend, self.isolation)

    # ------------------------------------------------------------ commands

    async def _open_exec(self, argv: list[str], environment: dict[str, str], workdir: str) -> str:
        """Create the exec, recreating the container once if it died or was removed."""
        import docker.errors

        await self.start()
        for attempt in (1, 2):
            try:
                created = await asyncio.to_thread(
                    self._stream_client.api.exec_create,
                    self._container_id,
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
            base_env(home=INSIDE_ROOT, path=None, gpus=self.config.gpus) | (env or {}) | {MARKER_VAR: state.token}
        )
        exec_id = await self._open_exec(as_argv(command), environment, inside_cwd(cwd))
        stream = ExecStream(self._stream_client.api, exec_id)
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
        if exit_code == 137 and not (state.killed or state.timed_out):
            await self._check_oom(state, pump)
        await pump.finish()
        return state.result(exit_code, pump.tail("stdout"), pump.tail("stderr"), pump.total)

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
