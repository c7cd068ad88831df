"""An agent's sandbox, created and started on first use.

Creating a sandbox can block (``auto`` probes the Docker engine) and starting
one can fail (no engine, no image). The slot does both off the event loop,
once, records the sandbox's lifecycle events and isolation for the agent, and
turns a failure into a ``SandboxError`` the tool call reports to the model
rather than an agent crash; the next call tries again.

With ``sandbox.hosts`` the slot asks the run's ``HostPool`` where its agent
goes (host and GPUs), and hands the sandbox a way to be placed again when
that host goes away.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

from aar.config import SandboxConfig
from aar.events import ErrorRaised, SandboxLifecycle
from aar.store import RunStore
from sandbox.base import Sandbox, SandboxError

if TYPE_CHECKING:
    from aar.config import HostConfig
    from sandbox.hosts import HostPool


class SandboxSlot:
    def __init__(
        self,
        config: SandboxConfig,
        *,
        store: RunStore,
        agent: str,
        run_id: str,
        workspace: Path,
        hosts: HostPool | None = None,
    ) -> None:
        self.config = config
        self.hosts = hosts
        self.store = store
        self.agent = agent
        self.name = re.sub(r"[^a-zA-Z0-9_.-]", "-", f"aar-{run_id}-{agent}")
        self.workspace = workspace
        self._sandbox: Sandbox | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Sandbox:
        """The started sandbox; raises ``SandboxError`` (one line) when it cannot start."""
        async with self._lock:
            try:
                if self._sandbox is None:
                    self._sandbox = await self._make()
                await self._sandbox.start()
            except SandboxError as exc:  # no engine, no image, no host with room
                self.store.emit(self.agent, ErrorRaised(message=str(exc), where="sandbox"))
                raise
            return self._sandbox

    async def _make(self) -> Sandbox:
        from sandbox.factory import create_sandbox

        self.workspace.mkdir(parents=True, exist_ok=True)
        if self.hosts is not None:
            return self._on_host()
        return await asyncio.to_thread(
            create_sandbox, self.config, name=self.name, workspace=self.workspace, on_event=self._on_event
        )

    def _on_host(self) -> Sandbox:
        from sandbox.docker_backend import DockerSandbox

        assert self.hosts is not None
        placement = self.hosts.where(self.agent)
        return DockerSandbox(
            self.hosts.config_for(placement),
            name=self.name,
            workspace=self.workspace,
            on_event=self._on_event,
            host=self.hosts.hosts[placement.host],
            relocate=self._relocate,
        )

    def _relocate(self, gone: str) -> tuple[HostConfig, SandboxConfig]:
        assert self.hosts is not None
        placement = self.hosts.move(self.agent, gone)
        return self.hosts.hosts[placement.host], self.hosts.config_for(placement)

    async def interrupt(self) -> bool:
        """Kill the running command, if any (never starts a sandbox to do so)."""
        return await self._sandbox.interrupt() if self._sandbox is not None else False

    async def close(self) -> None:
        if self._sandbox is not None:
            await self._sandbox.stop()
            if self.hosts is not None:  # its container is gone: its share of the host is free again
                self.hosts.release(self.agent)

    async def _on_event(self, event: SandboxLifecycle) -> None:
        self.store.emit(self.agent, event)
        if event.isolation and event.action == "started":
            await self.store.update_agent(self.agent, isolation=event.isolation)
