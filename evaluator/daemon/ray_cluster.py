"""Reaching the Ray cluster of ``[ray]``: its address, what a job asks of it, what its nodes can run.

:func:`check_cluster` is what ``aar run`` calls before a run exists when ``evaluator.backend = "ray"``:
Ray not installed, an address that does not answer and a cluster that has no node with what a job asks
for each stop the run in one line. Ray is imported only here and in the modules that drive it, and only
when the backend is ``ray``: without Ray every other path works as before.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from aar.config import RayConfig
from aar.errors import AarError
from aar.events import ClusterNode

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
CURRENT_CLUSTER = Path("/tmp/ray/ray_current_cluster")
"""Where ``ray start --head`` writes the address of the cluster it made on this machine (``address = "auto"``)."""
UNBOUNDED = 64
"""Jobs in flight at once when a job asks for nothing that runs out (every request 0)."""


class ClusterSetupError(AarError):
    """The Ray cluster cannot run the evaluator's jobs: one line saying what to fix."""


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise ClusterSetupError(
            "evaluator.backend = \"ray\" needs Ray, which is not installed here: pip install 'aar[ray]'"
        ) from None
    return ray


def resolve_address(config: RayConfig) -> str:
    """``host:port`` (or ``ray://host:port``) of the cluster; ``auto`` reads ``RAY_ADDRESS``, then the cluster
    ``ray start --head`` made on this machine."""
    if config.address != "auto":
        return config.address
    found = os.environ.get("RAY_ADDRESS", "").strip()
    if not found and CURRENT_CLUSTER.is_file():
        found = CURRENT_CLUSTER.read_text().strip()
    if not found:
        raise ClusterSetupError(
            'ray.address = "auto" found no Ray cluster on this machine: run `ray start --head`, or set ray.address'
        )
    return found


def host_port(address: str) -> tuple[str, int]:
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        raise ClusterSetupError(f"ray.address {address!r} is not host:port or ray://host:port")
    return host.strip("[]") or "127.0.0.1", int(port)


def probe(address: str, timeout_s: float) -> None:
    """Raise one line when nothing listens at ``address`` (Ray itself would retry for a minute)."""
    host, port = host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterSetupError(
            f"ray.address {address} does not answer ({reason}): start the cluster there with `ray start --head`, "
            "or fix ray.address"
        ) from None


def prepare(config: RayConfig) -> str:
    """The cluster's address, with this process set up to reach it; call it before Ray is imported."""
    address = resolve_address(config)
    if host_port(address)[0] in LOOPBACK:
        # A cluster bound to the loopback is reached on the loopback: Ray would otherwise swap 127.0.0.1 for
        # this machine's outward address, where nothing listens. Read by Ray when it is first imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    return address


def connect(config: RayConfig) -> str:
    """Connect this process to the cluster (once); the address it reached."""
    address = prepare(config)
    ray = import_ray()
    probe(address, config.connect_timeout_s)
    if not ray.is_initialized():
        ray.init(address=address, namespace="aar", log_to_driver=False, logging_level="WARNING")
    return address


def request(config: RayConfig) -> dict[str, float]:
    """What each job asks of a node, in Ray's resource names (``memory`` in bytes)."""
    asked = {"CPU": config.num_cpus, "GPU": config.num_gpus, "memory": float(config.memory_mb) * 2**20}
    return {k: v for k, v in {**asked, **config.resources}.items() if v > 0}


def describe_request(asked: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v / 2**20:g}MiB" if k == "memory" else f"{k}={v:g}" for k, v in asked.items()) or "nothing"


def fits(totals: Mapping[str, float], asked: Mapping[str, float]) -> int:
    """How many jobs asking ``asked`` a node with ``totals`` runs at once."""
    if not asked:
        return UNBOUNDED
    return min(math.floor(totals.get(k, 0.0) / v + 1e-9) for k, v in asked.items())


def nodes_of(raw: Sequence[Mapping[str, Any]]) -> list[ClusterNode]:
    """``ray.nodes()`` as the store keeps it (no jobs yet)."""
    return [
        ClusterNode(
            node=str(n["NodeID"])[:8],
            address=str(n.get("NodeManagerAddress", "")),
            alive=bool(n.get("Alive")),
            cpus=float(n.get("Resources", {}).get("CPU", 0.0)),
            gpus=float(n.get("Resources", {}).get("GPU", 0.0)),
        )
        for n in raw
    ]


def capacity(raw: Sequence[Mapping[str, Any]], asked: Mapping[str, float]) -> int:
    """Jobs the live nodes run at once."""
    return sum(fits(n.get("Resources", {}), asked) for n in raw if n.get("Alive"))


def check_cluster(config: RayConfig) -> str:
    """Before a run starts: one line about the cluster, or :class:`ClusterSetupError` saying what to fix."""
    prepare(config)
    ray = import_ray()
    connected = ray.is_initialized()
    address = connect(config)
    try:
        raw = ray.nodes()
        asked = request(config)
        room = capacity(raw, asked)
        if room == 0:
            have = "; ".join(
                f"{n['NodeID'][:8]} {describe_request({k: v for k, v in n['Resources'].items() if not k.startswith('node:')})}"
                for n in raw
                if n.get("Alive")
            )
            raise ClusterSetupError(
                f"no node of the Ray cluster at {address} has what a job asks for ({describe_request(asked)}); "
                f"its nodes have: {have or 'none alive'}. Lower [ray] or add a node (`ray start --resources`)"
            )
        alive = sum(1 for n in raw if n.get("Alive"))
        return f"ray cluster {address}: {alive} nodes, {room} jobs at once ({describe_request(asked)} each)"
    finally:
        if not connected:
            ray.shutdown()
