"""What the supervisor reads of the Ray cluster: the daemon's ``eval.cluster`` events, read back by the TUI's client."""

from __future__ import annotations

from pathlib import Path

from aar.events import ClusterNode, EvalClusterChanged
from aar.store import RunStore
from tests.evaluator.helpers import make_run
from tui.service import RunClient

VIEW = EvalClusterChanged(
    address="10.0.0.1:6379",
    capacity=2,
    nodes=[
        ClusterNode(node="3f2a9c1e", address="10.0.0.1", alive=True, cpus=8, gpus=2, gpus_busy=1, jobs=[12]),
        ClusterNode(node="77ab01cd", address="10.0.0.2", alive=False, cpus=8, gpus=2),
    ],
)


def test_the_cluster_in_lines() -> None:
    assert VIEW.lines() == [
        "ray 10.0.0.1:6379: 1/2 nodes · GPUs 1/2 busy · 1 jobs running",
        "  node 3f2a9c1e 10.0.0.1 · GPUs 1/2 busy, CPUs 8 · running #12",
        "  node 77ab01cd 10.0.0.2 · lost",
    ]


async def test_the_jobs_screen_reads_the_latest_view(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "run")
    store = await RunStore.open(paths.db, create=True)
    try:
        client = await RunClient.open(paths.root)
        assert await client.cluster() is None, "the local backend has no cluster"
        store.emit(None, VIEW.model_copy(update={"capacity": 1}))
        store.emit(None, VIEW)
        await store.flush()
        assert await client.cluster() == VIEW
        await client.store.close()
    finally:
        await store.close()
