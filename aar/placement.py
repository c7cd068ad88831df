"""Placement: which Docker host runs each agent's sandbox, and which of its GPUs it gets.

A pure function of the hosts' capacity and the agents' asks, so a config can
be checked when it loads (hosts without room for the team fail there, in one
line) and the same config always gives the same plan. Each agent goes, in
team order, to the host with room that holds the fewest agents so far (the
first listed on a tie), and takes that host's lowest free GPU ids: a GPU is
never given twice, and no host is asked for more CPUs or memory than it has.
When a host goes away, its agents are placed again on the hosts left, around
the agents already there.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def size_bytes(text: str) -> int:
    """``"512m"`` -> 536870912 (the config's memory syntax); ``ValueError`` for anything else."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kmgKMG]?)", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a size like 512m or 4g")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _size(n: int) -> str:
    return f"{n / 1024**3:g}g" if n >= 1024**3 else f"{n / 1024**2:g}m"


def _count(n: float, noun: str) -> str:
    """``1 CPU``, ``0.5 CPUs``, ``2 GPUs``."""
    return f"{n:g} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Room:
    """What one host offers: its GPU ids, CPU cores and memory in bytes."""

    host: str
    gpus: tuple[str, ...]
    cpus: float
    memory: int


@dataclass(frozen=True)
class Ask:
    """What one agent's sandbox asks for."""

    gpus: int
    cpus: float
    memory: int

    def __str__(self) -> str:
        return f"{_count(self.gpus, 'GPU')}, {_count(self.cpus, 'CPU')}, {_size(self.memory)} memory"


@dataclass(frozen=True)
class Placement:
    """Where one agent's sandbox runs."""

    host: str
    gpus: tuple[str, ...]

    @property
    def gpus_setting(self) -> str:
        """As ``sandbox.gpus`` says it: ``none`` or ``0,1``."""
        return ",".join(self.gpus) if self.gpus else "none"


class PlacementError(ValueError):
    """No host has room for an agent; the message is one line naming the agent, its ask and what is free."""


@dataclass
class _Free:
    gpus: list[str]
    cpus: float
    memory: int
    agents: int = 0

    def fits(self, ask: Ask) -> bool:
        return len(self.gpus) >= ask.gpus and self.cpus >= ask.cpus - 1e-9 and self.memory >= ask.memory

    def take(self, ask: Ask, gpus: Sequence[str] | None = None) -> tuple[str, ...]:
        chosen = tuple(gpus) if gpus is not None else tuple(self.gpus[: ask.gpus])
        self.gpus = [g for g in self.gpus if g not in chosen]
        self.cpus -= ask.cpus
        self.memory -= ask.memory
        self.agents += 1
        return chosen

    def __str__(self) -> str:
        return f"{_count(len(self.gpus), 'GPU')}, {_count(max(self.cpus, 0), 'CPU')}, {_size(max(self.memory, 0))}"


def place(
    asks: Mapping[str, Ask],
    rooms: Sequence[Room],
    *,
    placed: Mapping[str, tuple[Placement, Ask]] | None = None,
    dead: Collection[str] = (),
) -> dict[str, Placement]:
    """A placement for every agent of ``asks`` (in its order), around the agents already ``placed``, on hosts
    not ``dead``; raises ``PlacementError`` (one line) for the first agent that fits nowhere."""
    free = {r.host: _Free(list(r.gpus), r.cpus, r.memory) for r in rooms}
    for where, ask in (placed or {}).values():
        if where.host in free and where.host not in dead:
            free[where.host].take(ask, where.gpus)
    order = {r.host: i for i, r in enumerate(rooms)}
    plan: dict[str, Placement] = {}
    for agent, ask in asks.items():
        fits = [host for host in order if host not in dead and free[host].fits(ask)]
        if not fits:
            left = "; ".join(f"{host}: {free[host]}" for host in order if host not in dead) or "none"
            gone = f" ({', '.join(sorted(dead))} gone)" if dead else ""
            raise PlacementError(
                f"sandbox.hosts: no host has room for {agent}, which asks for {ask}; free: {left}{gone};"
                " add hosts or capacity, or ask for less (sandbox.gpus_each, sandbox.cpus, sandbox.memory)"
            )
        host = min(fits, key=lambda h: (free[h].agents, order[h]))
        plan[agent] = Placement(host, free[host].take(ask))
    return plan
