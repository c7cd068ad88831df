"""``sandbox.hosts``: reaching each Docker engine, checking it before a run, and keeping track of placement.

A client for a host is built from its URL alone (``unix://``, ``tcp://`` with
TLS verified both ways, ``ssh://`` through the ``ssh`` binary and its
config); nothing of ``DOCKER_HOST`` or the environment (a CA bundle, a
proxy) comes between aar and the engine. ``check_hosts`` is the fail-closed probe a run makes
before it starts: every host must answer and hold the image. ``HostPool`` is
the run's placement as it goes: the plan from the config (``aar.placement``),
agents added later (branches) placed on demand, and an agent whose host went
away placed again on the hosts left.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aar.config import HostConfig, SandboxConfig
from aar.placement import Placement, PlacementError, place
from sandbox.base import SandboxError
from sandbox.files import INSIDE_ROOT

PROBE_TIMEOUT_S = 5
"""Each request of a probe; the whole probe of every host is held to twice that (``check_hosts``)."""
API_TIMEOUT_S = 120
"""Each request a sandbox makes of its engine (a silent host is noticed, not waited on for ever); a command's
output stream is not held to it (a quiet command is not a dead host) but has TCP keepalive."""


def docker_client(host: HostConfig | None, *, timeout: float | None) -> Any:
    """A Docker client for ``host`` (this machine's engine, as ``DOCKER_HOST`` says, when None)."""
    if host is None:
        import docker

        return docker.from_env(timeout=timeout)
    from sandbox.docker_client import EnvFreeClient

    scheme = host.url.split("://", 1)[0]
    if scheme == "ssh":
        return EnvFreeClient(base_url=host.url, use_ssh_client=True, timeout=timeout)
    if scheme == "tcp":
        from docker.tls import TLSConfig

        assert host.tls is not None  # the config refuses tcp:// without it
        files = (host.tls.ca_cert, host.tls.client_cert, host.tls.client_key)
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise SandboxError(f"sandbox.hosts: {host.label}: no TLS file {missing[0]}")
        tls = TLSConfig(client_cert=(host.tls.client_cert, host.tls.client_key), ca_cert=host.tls.ca_cert, verify=True)
        return EnvFreeClient(base_url=host.url.replace("tcp://", "https://", 1), tls=tls, timeout=timeout)
    return EnvFreeClient(base_url=host.url, timeout=timeout)


def is_gone(exc: BaseException) -> bool:
    """True when ``exc`` says the engine itself did not answer (a host that went away), not that it refused."""
    import docker.errors
    import requests.exceptions

    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout | ConnectionError):
        return True
    return isinstance(exc, docker.errors.DockerException) and not isinstance(exc, docker.errors.APIError)


def sees_workspace(api: Any, container: str, user: str, workspace: Path) -> bool:
    """Whether ``container`` sees, at ``/workspace``, a file just written to ``workspace`` on this side."""
    nonce = uuid.uuid4().hex
    probe = workspace / f".aar-shared-{nonce}"
    probe.write_text(nonce)
    try:
        created = api.exec_create(container, ["cat", f"{INSIDE_ROOT}/{probe.name}"], user=user)
        seen = api.exec_start(created["Id"])
    finally:
        probe.unlink(missing_ok=True)
    return bool(seen.decode(errors="replace").strip() == nonce)


def within(deadline: float, probe: Callable[[], str], late: str) -> str:
    """``probe()``, or ``late`` when it has not returned within ``deadline`` seconds: docker-py's ssh:// client
    ignores timeouts, and nothing else bounds a host that accepts a connection and never answers. The thread
    left behind is a daemon; it ends when that connection finally breaks."""
    said: list[str] = []
    thread = threading.Thread(target=lambda: said.append(probe()), name="aar-host-probe", daemon=True)
    thread.start()
    thread.join(deadline)
    return said[0] if said else late


def _ping(host: HostConfig | None, timeout: float) -> str:
    try:
        client = docker_client(host, timeout=timeout)
    except Exception as exc:
        return exc.__class__.__name__
    try:
        return "" if client.ping() else "no pong"
    except Exception as exc:
        return exc.__class__.__name__
    finally:
        client.close()


def answers(host: HostConfig | None, *, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether ``host``'s engine (this machine's when None) answers a ping within ``timeout``."""
    return within(timeout, lambda: _ping(host, timeout), "late") == ""


def missing_image(host: HostConfig, image: str) -> str:
    """The one line for ``host`` without ``image``: images are per engine, so it must be loaded there."""
    return (
        f"sandbox.hosts: {host.label} has no image {image}; load it there"
        f" (`docker save {image} | docker -H {host.url} load`), build it there, or set sandbox.image"
    )


def unreachable(host: HostConfig, exc: BaseException) -> str:
    """The one line for ``host`` whose engine could not be reached: a refused TLS handshake says so (a wrong CA
    or certificate is not an engine that is down)."""
    import requests.exceptions

    said = str(exc)
    if isinstance(exc, requests.exceptions.SSLError) or "SSLError" in said or "CERTIFICATE" in said.upper():
        reason = "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in said else exc.__class__.__name__
        return (
            f"sandbox.hosts: {host.label}: the TLS handshake failed ({reason}); check its tls ca_cert, client_cert"
            " and client_key against the engine's --tlscacert, --tlscert and --tlskey"
        )
    return f"sandbox.hosts: {host.label} does not answer ({exc.__class__.__name__}); is its engine running?"


def host_problem(host: HostConfig, image: str, *, timeout: float = PROBE_TIMEOUT_S) -> str:
    """Why a run cannot place sandboxes on ``host`` (one line), or "" when it answers and holds ``image``."""
    import docker.errors

    try:
        client = docker_client(host, timeout=timeout)
    except SandboxError as exc:
        return str(exc)
    except Exception as exc:
        return unreachable(host, exc)
    try:
        client.ping()
        client.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return missing_image(host, image)
    except Exception as exc:
        return unreachable(host, exc)
    finally:
        client.close()
    return ""


def check_hosts(config: SandboxConfig, *, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Fail closed: raise ``SandboxError`` (one line) unless every host answers and holds the image. The hosts
    are probed at once, and the whole check takes at most twice ``timeout`` however silent a host is."""
    deadline = 2 * timeout
    problems: dict[str, str] = {}
    threads = [
        threading.Thread(
            target=lambda h=host: problems.__setitem__(h.label, host_problem(h, config.image, timeout=timeout)),
            name="aar-host-probe",
            daemon=True,
        )
        for host in config.hosts
    ]
    for thread in threads:
        thread.start()
    end = time.monotonic() + deadline
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    for host in config.hosts:
        problem = problems.get(
            host.label,
            f"sandbox.hosts: {host.label} does not answer within {deadline:g} s (it accepts a connection but says"
            " nothing); is its engine running and the network to it up?",
        )
        if problem:
            raise SandboxError(problem)


class HostPool:
    """Where each agent's sandbox runs now; one per run, shared by its agents' sandbox slots."""

    def __init__(self, config: SandboxConfig, agents: Sequence[str]) -> None:
        self.config = config
        self.hosts = {h.label: h for h in config.hosts}
        self._rooms = [h.room() for h in config.hosts]
        self._ask = config.ask()
        self.placed: dict[str, Placement] = config.plan(agents)
        self.dead: set[str] = set()
        """Hosts that stopped answering during this run: nothing is placed on them again."""

    def where(self, agent: str) -> Placement:
        """``agent``'s placement, placing it now if it has none (a branch made during the run)."""
        if agent not in self.placed:
            self.placed[agent] = self._place(agent)
        return self.placed[agent]

    def move(self, agent: str, gone: str) -> Placement:
        """Place ``agent`` again, off host ``gone`` (and every host gone before); ``SandboxError`` if none has room."""
        self.dead.add(gone)
        self.placed.pop(agent, None)
        self.placed[agent] = self._place(agent)
        return self.placed[agent]

    def release(self, agent: str) -> None:
        """``agent`` stopped and its sandbox is gone: its GPUs, CPUs and memory are free for another (a branch)."""
        self.placed.pop(agent, None)

    def room_problem(self, agent: str) -> str:
        """Why ``agent`` (one more, e.g. a branch about to be made) would fit on no host now (one line), or ""."""
        try:
            self._place(agent)
        except SandboxError as exc:
            return str(exc)
        return ""

    def _place(self, agent: str) -> Placement:
        around = {name: (p, self._ask) for name, p in self.placed.items()}
        try:
            return place({agent: self._ask}, self._rooms, placed=around, dead=self.dead)[agent]
        except PlacementError as exc:
            raise SandboxError(str(exc)) from None

    def config_for(self, placement: Placement) -> SandboxConfig:
        """The sandbox settings on ``placement``: the run's, with the GPUs placement chose."""
        return self.config.model_copy(update={"gpus": placement.gpus_setting})
