"""A real Ray cluster on this machine: a head and a second node, both bound to 127.0.0.1, each with its own
resources, started and stopped here. Small on purpose (one CPU a node, no dashboard): CI machines have two cores.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

LOOPBACK = "127.0.0.1"
NODE: dict[str, Any] = {"node_ip_address": LOOPBACK, "object_store_memory": 80 * 2**20}
"""What every node of a test cluster is started with."""


@dataclass
class LocalCluster:
    """The cluster and its nodes; ``address`` is what ``ray.address`` names."""

    cluster: Any
    head: Any
    second: Any

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def node_id(self, node: Any) -> str:
        """The first 8 hex digits of a node's id: what a job's device names (``cpu@3f2a9c1e``)."""
        return str(node.node_id)[:8]


def loopback_ray() -> None:
    """Before Ray is imported: a loopback cluster is reached on the loopback, and nothing phones home."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # The nodes' job copies in a private folder of the test's, not the user's ~/.cache (the workers inherit it).
    os.environ.setdefault("AAR_RAY_COPIES", tempfile.mkdtemp(prefix="aar-ray-copies-"))
    pytest.importorskip("ray")


def start_cluster(head: dict[str, Any], second: dict[str, Any]) -> LocalCluster:
    loopback_ray()
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False, **head})
    node = cluster.add_node(**NODE, **second)
    cluster.wait_for_nodes()
    return LocalCluster(cluster, cluster.head_node, node)


def add_node(local: LocalCluster, **resources: Any) -> Any:
    """One more node in ``local`` (its resources as ``add_node`` takes them), once it has joined."""
    node = local.cluster.add_node(**NODE, **resources)
    local.cluster.wait_for_nodes()
    return node


def stop_cluster(local: LocalCluster) -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
    local.cluster.shutdown()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalCluster]:
    """Two nodes with one CPU and one GPU each (a GPU Ray counts, standing in for one on a CPU machine); one for
    every module that asks (starting a cluster takes a while)."""
    local = start_cluster({"num_cpus": 1, "num_gpus": 1}, {"num_cpus": 1, "num_gpus": 1})
    try:
        yield local
    finally:
        stop_cluster(local)
