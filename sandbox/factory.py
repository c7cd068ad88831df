"""Choosing and building a sandbox from the run config.

``backend = "auto"`` means docker where an engine answers and the configured
image exists, else local (bubblewrap where it works). The choice is made once
per process and image: probing the engine costs a round trip, and a run's
sandboxes should not switch backends half way.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Protocol

from aar.config import SandboxConfig
from sandbox.base import EventCallback, Sandbox
from sandbox.policy import no_isolation_error

PROBE_TIMEOUT_S = 3


def _client() -> Any:
    """A Docker client (the SDK has no type information)."""
    import docker

    return docker.from_env(timeout=PROBE_TIMEOUT_S)


def docker_available() -> bool:
    """True when a Docker engine answers a ping (DOCKER_HOST or the default socket)."""
    from sandbox.hosts import answers

    return answers(None, timeout=PROBE_TIMEOUT_S)


@functools.cache
def _docker_has_image(image: str) -> bool:
    if not docker_available():
        return False
    client = _client()
    try:
        client.api.inspect_image(image)
        return True
    except Exception:
        return False
    finally:
        client.close()


def resolve_backend(config: SandboxConfig) -> str:
    """``docker`` or ``local``: what ``auto`` means on this machine (the evaluator's sandboxes, and the agents' when
    there are no ``sandbox.hosts``)."""
    if config.backend != "auto":
        return config.backend
    return "docker" if _docker_has_image(config.image) else "local"


class SandboxMaker(Protocol):
    """Builds one backend's sandbox (imported when called, so the docker SDK loads only where used)."""

    def __call__(
        self, config: SandboxConfig, *, name: str, workspace: Path, on_event: EventCallback | None
    ) -> Sandbox: ...


def _docker(config: SandboxConfig, *, name: str, workspace: Path, on_event: EventCallback | None) -> Sandbox:
    from sandbox.docker_backend import DockerSandbox

    return DockerSandbox(config, name=name, workspace=workspace, on_event=on_event)


def _local(config: SandboxConfig, *, name: str, workspace: Path, on_event: EventCallback | None) -> Sandbox:
    from sandbox.local import LocalSandbox

    return LocalSandbox(config, name=name, workspace=workspace, on_event=on_event)


BACKENDS: dict[str, SandboxMaker] = {"docker": _docker, "local": _local}
"""The registry of backends by ``sandbox.backend`` name; a new one adds its name to that
config field's Literal and an entry here, and passes tests/sandbox/test_conformance.py."""


ISOLATED = ("docker", "bubblewrap")
"""Isolation kinds that keep held-out labels and ``run.db`` out of a sandbox's reach."""


def effective_isolation(config: SandboxConfig) -> str:
    """What would isolate this run's sandboxes on this machine: ``docker``, ``bubblewrap`` or ``none``."""
    from sandbox.bwrap import bwrap_path

    if resolve_backend(config) == "docker":
        return "docker"
    return "bubblewrap" if bwrap_path() else "none"


def check_isolation(config: SandboxConfig) -> str:
    """The run's isolation; raises the one-line ``no_isolation_error`` when there is none and it is required,
    and, fail closed, a one-line ``SandboxError`` when one of ``sandbox.hosts`` does not answer or lacks the image."""
    from sandbox.hosts import check_hosts

    isolation = effective_isolation(config)
    if isolation not in ISOLATED and config.isolation == "required":
        raise no_isolation_error(config)
    check_hosts(config)
    return isolation


def create_sandbox(
    config: SandboxConfig, *, name: str, workspace: Path, on_event: EventCallback | None = None
) -> Sandbox:
    """A sandbox for ``workspace`` (not started: call ``await sandbox.start()``)."""
    return BACKENDS[resolve_backend(config)](config, name=name, workspace=workspace, on_event=on_event)
