"""``aar transfer RUN [--top K | --submission ID] [--json]``: re-run the best verified methods on the run's
transfer targets (``[[transfer.targets]]``).

The jobs go into the run's queue, where its evaluator workers take them (now if the run is live, else when it
is resumed); a method already queued, running or done on a target is not enqueued again, a failed one is.
Each line says which job runs a method on a target, with the score it got where it is done: the target's
feedback PGR with its 95% CI and the paired difference against vanilla there. Bad input is one line.
"""

from __future__ import annotations

import asyncio
import json

from aar.config import load_config
from aar.escape import one_line
from aar.runtime import RunPaths
from aar.store import TRANSFER_SPLIT, ResultRow, RunStore
from evaluator.daemon.transfer import Planned, enqueue_transfers, plan_transfers


async def transfer(
    paths: RunPaths, *, top: int | None = None, submission: int | None = None
) -> tuple[list[Planned], dict[int, ResultRow]]:
    """The jobs for the asked methods on every target, and the results already recorded, by job id."""
    config = load_config(paths.config)
    async with await RunStore.open(paths.db) as store:
        ids = await plan_transfers(store, config, top=top, submission=submission)
        planned = await enqueue_transfers(store, config, ids)
        results = {r.job_id: r for r in await store.results(split=TRANSFER_SPLIT)}
    return planned, results


def _score(row: ResultRow | None) -> str:
    if row is None or row.pgr is None:
        return ""
    line = f"; PGR {row.pgr:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]"
    vs = row.metrics.get("vs_vanilla")
    if isinstance(vs, dict):
        line += f", vs vanilla {vs['diff']:+.3f} [{vs['ci_low']:+.3f}, {vs['ci_high']:+.3f}]"
    return line + (f", flags {', '.join(row.flags)}" if row.flags else "")


def main(paths: RunPaths, *, top: int | None, submission: int | None, as_json: bool) -> int:
    planned, results = asyncio.run(transfer(paths, top=top, submission=submission))
    if as_json:
        rows = [
            {
                "submission_id": p.submission_id,
                "target": p.target,
                "job_id": p.job_id,
                "new": p.new,
                "status": p.status,
                "result": None if (r := results.get(p.job_id)) is None else r.model_dump(),
            }
            for p in planned
        ]
        print(json.dumps(rows, indent=2))
        return 0
    for p in planned:
        print(one_line(p.line() + _score(results.get(p.job_id))))
    new = sum(p.new for p in planned)
    print(f"{new} new transfer job{'s' * (new != 1)}; `aar attach {paths.run_id}` or `aar transfer` again to follow")
    return 0
