"""Transfer benchmark: the top 3 methods to 2 toy variants, through the queue beside the same work by hand.

Side by side in one run (a shared, noisy machine):

- ``by hand``: for each target, one ``aar eval`` (``evaluator.daemon.cli.evaluate``, in-process) of the three
  methods over the seeds, with the service's checks (the canary on other weak labels), baselines trained afresh;
  once as a user runs it (any core), once held to the queue's one core (``cpu:0``: one core, one thread, as
  an evaluator worker holds it), the same hardware as the queue on one device;
- ``queue, 1 device`` / ``queue, 2 devices``: the six transfer jobs (3 methods x 2 targets) enqueued at once in
  a fresh run and taken by the real worker pool on ``cpu:0`` (and ``cpu:1``), each building its target's bundle
  and baselines once and running the method and its canary in fresh local sandboxes, until all read ``done``.

Printed: each side's wall time, then queue (1 device) / by hand (target <= 1.1), the same against the hand on
one core, and 2 devices / 1 device (target <= 0.6). What the queue adds over the hand is isolation: each job
runs its method in two fresh sandboxes (scored and canary), each one process over every seed, and each such
process starts Python, imports torch and, at its first optimizer, ``torch._dynamo``: about 3.5 s of one core
here, 12 times, against a toy seed's 0.2-0.4 s. The hand pays that once.

Usage: python bench/transfer.py [--seeds N] [--size N]   (defaults: 5 seeds, toy size 2000)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar.config import RunConfig, dump_config  # noqa: E402
from aar.runtime import RunPaths  # noqa: E402
from aar.store import TRANSFER_SPLIT, RunStore  # noqa: E402
from bench.timing import until_done  # noqa: E402

METHODS = {
    "confidence.py": "from evaluator.compute.methods.confidence import run\n",
    "bootstrap.py": "from evaluator.compute.methods.bootstrap import run\n",
    "window.py": "from evaluator.compute.methods.window import run\n",
}
TARGETS = {"classic": "classic", "default": "default"}
"""Target name -> toy variant."""


async def through_the_queue(devices: list[str], seeds: int, size: int) -> float:
    """Seconds from enqueueing the six transfer jobs until all are done, in a fresh run."""
    from evaluator.compute.prepare import prepare
    from evaluator.daemon.pool import WorkerPool

    checkout = Path(__file__).resolve().parents[1]
    root = Path(tempfile.mkdtemp(prefix="bench-transfer-", dir=checkout / "runs")) / "run"
    paths = RunPaths(root)
    paths.make()
    targets = [
        {"name": name, "seeds": seeds, "task": {"name": "toy", "variant": variant, "size": size}}
        for name, variant in TARGETS.items()
    ]
    config = RunConfig.model_validate(
        {
            "evaluator": {"seeds": 1},
            "task": {"size": 500},
            "sandbox": {"backend": "local"},
            "devices": {"evaluator": devices},
            "transfer": {"targets": targets},
        }
    )
    paths.config.write_text(dump_config(config))
    prepare(root)
    store = await RunStore.open(paths.db, create=True)
    pool = WorkerPool(paths, store, devices, job_timeout_s=3600, poll_s=0.1)
    stop = asyncio.Event()
    running = asyncio.create_task(pool.run(stop))
    try:
        warm = [await store.enqueue_job("baselines", {"seeds": [0]}) for _ in devices]  # torch imported, once
        await until_done(store, warm)
        start = time.perf_counter()
        ids = []
        for filename, source in METHODS.items():
            sub = await store.add_submission("bench", "method", {"filename": filename, "source": source})
            for target in TARGETS:
                spec = {"submission_id": sub, "target": target, "filename": filename, "source": source}
                ids.append(await store.enqueue_job("transfer", spec, submission_id=sub))
        await until_done(store, ids)
        seconds = time.perf_counter() - start
        assert len(await store.results(split=TRANSFER_SPLIT)) == len(ids)
        return seconds
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
        await store.close()
        shutil.rmtree(root.parent, ignore_errors=True)


def by_hand(seeds: int, size: int) -> float:
    """Seconds for one ``aar eval`` per target of the three methods (checks on, no cache)."""
    from evaluator.daemon.cli import evaluate, parse

    folder = Path(tempfile.mkdtemp(prefix="bench-transfer-methods-"))
    try:
        files = []
        for filename, source in METHODS.items():
            (folder / filename).write_text(source)
            files += ["--method", str(folder / filename)]
        start = time.perf_counter()
        for variant in TARGETS.values():
            argv = ["--task", "toy", "--variant", variant, "--size", str(size), "--seeds", str(seeds), *files]
            args = parse([*argv, "--no-cache"])
            evaluate(args)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def by_hand_on_one_core(seeds: int, size: int) -> float:
    """``by_hand`` in a process held to core 0 with one thread, as the pool's ``cpu:0`` holds a worker."""
    from evaluator.daemon.worker import hold_device

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    argv = [sys.executable, __file__, "--seeds", str(seeds), "--size", str(size), "--hand-only"]
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, check=True, preexec_fn=lambda: hold_device("cpu:0")
    )
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--hand-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hand_only:
        print(by_hand(args.seeds, args.size))
        return
    hand = by_hand(args.seeds, args.size)
    print(f"by hand (aar eval, per target):  {hand:7.1f}s  (load average {os.getloadavg()[0]:.1f})", flush=True)
    core = by_hand_on_one_core(args.seeds, args.size)
    print(f"by hand, held to cpu:0:          {core:7.1f}s  (load average {os.getloadavg()[0]:.1f})", flush=True)
    one = asyncio.run(through_the_queue(["cpu:0"], args.seeds, args.size))
    print(f"queue, 1 device:                 {one:7.1f}s  (load average {os.getloadavg()[0]:.1f})", flush=True)
    two = asyncio.run(through_the_queue(["cpu:0", "cpu:1"], args.seeds, args.size))
    print(f"queue, 2 devices:                {two:7.1f}s  (load average {os.getloadavg()[0]:.1f})", flush=True)
    print(f"3 methods x 2 toy variants x {args.seeds} seeds, toy size {args.size}")
    print(
        f"queue (1 device) / by hand: {one / hand:.2f} (target <= 1.1); / by hand on cpu:0: {one / core:.2f}; "
        f"2 devices / 1 device: {two / one:.2f} (target <= 0.6)"
    )


if __name__ == "__main__":
    main()
