"""Helpers shared by the evaluator tests."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from aar.config import RunConfig, dump_config
from aar.runtime import RunPaths
from aar.store import JobRow, RunStore
from tests.support import eventually


class Scored(Protocol):
    """A PGR with its interval, each missing when there was nothing to score (a result row, ``PGRResult``)."""

    @property
    def pgr(self) -> float | None: ...
    @property
    def ci_low(self) -> float | None: ...
    @property
    def ci_high(self) -> float | None: ...


def interval(scored: Scored) -> tuple[float, float, float]:
    """``(ci_low, pgr, ci_high)`` of a result that has all three; fails with the result otherwise."""
    assert scored.ci_low is not None and scored.pgr is not None and scored.ci_high is not None, scored
    return scored.ci_low, scored.pgr, scored.ci_high


def make_run(root: Path, **sections: dict[str, object]) -> RunPaths:
    """A run folder with a config.toml, as ``aar run`` would create it."""
    paths = RunPaths(root)
    paths.make()
    config = RunConfig.model_validate({"team": {"count": 2}, **sections})
    paths.config.write_text(dump_config(config))
    return paths


@contextlib.asynccontextmanager
async def prepared_run(
    name: str, *, job_timeout_s: float = 300, **sections: dict[str, object]
) -> AsyncIterator[tuple[RunPaths, RunStore]]:
    """A run prepared by the daemon's code, inside the aar checkout where runs usually live (the
    harder case for a sandbox, which must mount the checkout and hide the run), with its evaluator
    worker serving; removed afterwards."""
    from evaluator.compute.prepare import prepare
    from evaluator.daemon.supervisor import WorkerSupervisor

    root = Path(__file__).resolve().parents[2] / "runs" / f"{name}-{uuid.uuid4().hex[:8]}"
    paths = make_run(root, **sections)
    await asyncio.to_thread(prepare, paths.root)
    store = await RunStore.open(paths.db, create=True)
    stop = asyncio.Event()
    task = asyncio.create_task(WorkerSupervisor(paths, store, job_timeout_s=job_timeout_s, poll_s=0.1).run(stop))
    try:
        yield paths, store
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
        await store.close()
        shutil.rmtree(root, ignore_errors=True)


async def settled(store: RunStore, job_id: int, what: str, *, timeout: float = 600) -> JobRow:
    """Job ``job_id`` once the worker is done with it (``done`` or ``failed``)."""

    async def finished() -> bool:
        job = await store.job(job_id)
        return job is not None and job.status in ("done", "failed")

    await eventually(finished, timeout=timeout, what=what, interval=0.1)
    job = await store.job(job_id)
    assert job is not None
    return job
