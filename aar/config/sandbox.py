"""``[sandbox]``: where agents run their commands, and what limits them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from aar.config.base import Section
from aar.placement import Ask, Placement, Room, place, size_bytes

MEMORY_PATTERN = r"^\d+(\.\d+)?[kmgKMG]?$"


class HostTLS(Section):
    """The certificates of a ``tcp://`` Docker engine (the engine's ``--tlsverify`` setup)."""

    ca_cert: str
    """The CA that signed the engine's certificate (``ca.pem``)."""
    client_cert: str
    """This machine's client certificate (``cert.pem``)."""
    client_key: str
    """Its key (``key.pem``)."""


class HostConfig(Section):
    """One Docker engine agents' sandboxes may be placed on, and what it offers them."""

    url: Annotated[str, Field(pattern=r"^(unix|tcp|ssh)://\S+$")]
    """The engine: ``unix:///var/run/docker.sock``, ``tcp://node2:2376`` (with ``tls``) or ``ssh://user@node3``."""
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")] | None = None
    """How events and ``aar ls`` name it; the URL when unset."""
    gpus: list[Annotated[int, Field(ge=0)]] | Annotated[int, Field(ge=0, le=1024)] = 0
    """Its GPUs for sandboxes: device ids (``[0, 1]``) or a count (``2`` means ids 0 and 1)."""
    cpus: Annotated[float, Field(gt=0, le=100_000)]
    """CPU cores the sandboxes placed here may use between them."""
    memory: Annotated[str, Field(pattern=MEMORY_PATTERN)]
    """Memory the sandboxes placed here may use between them, e.g. ``256g``."""
    tls: HostTLS | None = None
    """Required for ``tcp://``: an engine on the network without TLS gives root on that node to anyone."""

    @model_validator(mode="after")
    def _tls_matches_scheme(self) -> HostConfig:
        scheme = self.url.split("://", 1)[0]
        if scheme == "tcp" and self.tls is None:
            raise ValueError(
                f"sandbox.hosts: {self.url} is plain tcp://, which lets anyone on the network run as root there;"
                " give its tls = { ca_cert, client_cert, client_key }, or reach it over ssh://"
            )
        if scheme != "tcp" and self.tls is not None:
            raise ValueError(f"sandbox.hosts: {self.url}: tls is for tcp:// engines only")
        if isinstance(self.gpus, list) and len(set(self.gpus)) != len(self.gpus):
            raise ValueError(f"sandbox.hosts: {self.label} lists a GPU id twice")
        return self

    @property
    def label(self) -> str:
        return self.name or self.url

    @property
    def on_this_machine(self) -> bool:
        """A ``unix://`` engine is this machine's: its GPUs are the ones the evaluator's devices name."""
        return self.url.startswith("unix://")

    @property
    def engine(self) -> str:
        """The engine the URL reaches, to find one listed twice: a unix socket by its resolved path."""
        scheme, rest = self.url.split("://", 1)
        if scheme == "unix":
            return f"unix://{Path(rest).resolve()}"
        return self.url.lower().rstrip("/")

    def room(self) -> Room:
        ids = self.gpus if isinstance(self.gpus, list) else range(self.gpus)
        return Room(self.label, tuple(str(i) for i in ids), self.cpus, size_bytes(self.memory))


class SandboxConfig(Section):
    backend: Literal["auto", "docker", "local"] = "auto"
    """``docker`` where an engine answers under ``auto``, else ``local``."""
    image: str = "aar-sandbox:latest"
    """Docker image agents run in."""
    network: bool = False
    """Give sandboxes network access (off by default)."""
    memory: Annotated[str, Field(pattern=MEMORY_PATTERN)] = "4g"
    """Memory limit, e.g. ``512m`` or ``4g`` (with ``hosts``, also what each agent asks of its host)."""
    cpus: Annotated[float, Field(gt=0, le=512)] = 1.0
    """CPU limit in cores (with ``hosts``, also what each agent asks of its host)."""
    pids: Annotated[int, Field(ge=16, le=1_000_000)] = 512
    """Process limit (a fork bomb stops here)."""
    gpus: Annotated[str, Field(pattern=r"^(all|none|\d+(,\d+)*)$")] = "none"
    """GPUs to pass through: ``all``, ``none`` or a list like ``0,1``."""
    exec_timeout_s: Annotated[float, Field(gt=0)] = 600.0
    """Default timeout of one sandbox command."""
    isolation: Literal["required", "none-allowed"] = "required"
    """``required``: a run refuses to start when its sandboxes (the agents' and the evaluator's
    verification sandbox) would have no isolation (no Docker, no working bubblewrap).
    ``none-allowed`` waives that: the run is marked UNISOLATED and every score carries ``unisolated``."""
    hosts: list[HostConfig] = []
    """Docker engines the agents' sandboxes are placed on, by what each asks for; empty runs them all on this
    machine's engine (or bubblewrap). Workspaces must be on storage every host mounts at the same path."""
    gpus_each: Annotated[int, Field(ge=0, le=64)] = 0
    """With ``hosts``: GPUs each agent's sandbox gets, chosen by placement so no GPU is given twice."""

    @field_validator("hosts")
    @classmethod
    def _unique_hosts(cls, hosts: list[HostConfig]) -> list[HostConfig]:
        labels = [h.label for h in hosts]
        twice = sorted({x for x in labels if labels.count(x) > 1})
        if twice:
            raise ValueError(f"sandbox.hosts: {', '.join(twice)} listed twice; give each host its own name")
        seen: dict[str, str] = {}
        for host in hosts:
            first = seen.setdefault(host.engine, host.label)
            if first != host.label:
                raise ValueError(
                    f"sandbox.hosts: {first} and {host.label} are the same engine ({host.engine}); list it once,"
                    " with all it offers"
                )
        return hosts

    @model_validator(mode="after")
    def _hosts_fit_the_backend(self) -> SandboxConfig:
        if not self.hosts:
            if self.gpus_each:
                raise ValueError(
                    "sandbox.gpus_each is what each agent asks of sandbox.hosts; without hosts use sandbox.gpus"
                    " or [devices]"
                )
            return self
        if self.backend == "local":
            raise ValueError('sandbox.hosts are Docker engines: set sandbox.backend = "docker" (or "auto")')
        if self.gpus != "none":
            raise ValueError(
                "sandbox.gpus names this machine's GPUs; with sandbox.hosts, placement picks each agent's:"
                " set sandbox.gpus_each instead"
            )
        return self

    def ask(self) -> Ask:
        """What each agent's sandbox asks of the host it is placed on."""
        return Ask(self.gpus_each, self.cpus, size_bytes(self.memory))

    def plan(self, agents: Sequence[str]) -> dict[str, Placement]:
        """Which host runs each of ``agents``' sandboxes, and on which GPUs; ``PlacementError`` (one line) when
        the hosts have no room for them all. The config's check and the run's placement both start here."""
        return place(dict.fromkeys(agents, self.ask()), [h.room() for h in self.hosts])
