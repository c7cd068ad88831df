"""``python -m evaluator.compute.prepare RUN_DIR``: build a run's public bundle and held-out labels.

Run as a child process of the daemon (torch loads here, never in the daemon):
it draws the run's secret data seed, loads the task, trains the public, the
scored and the canary weak model of every evaluation seed (cached; see
``evaluator.compute.pipeline``), writes ``evaluator/daemon/bundle/`` and
``evaluator/heldout/``. Idempotent: a run that is resumed finds it done.
"""

from __future__ import annotations

import fcntl
import json
import sys
import time
from pathlib import Path

from aar.config import RunConfig, load_config
from aar.devices import cpu_index
from aar.errors import AarError
from aar.runtime import RunPaths
from evaluator.daemon.bundle import MANIFEST, WeakLabels, write_bundle, write_heldout
from evaluator.daemon.runfiles import RunFiles


def prepare(root: Path) -> str:
    """The home task's bundle and held-out labels, on the run's first evaluator device."""
    from evaluator.compute.training import resolve_device

    paths = RunPaths(root)
    config = load_config(paths.config)
    first = config.device_plan().evaluator[0]  # the first evaluator device; a core stands in as the CPU
    device = resolve_device("cpu" if cpu_index(first) is not None else first)
    return build_bundle(RunFiles(paths), config, device)


def build_bundle(files: RunFiles, config: RunConfig, device: str) -> str:
    """Write ``files``' bundle and held-out labels (the home task's, or a transfer target's) unless they are
    there for this task and these seeds; what was done, in one line."""
    files.root.mkdir(parents=True, exist_ok=True)
    with (files.root / ".prepare.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two workers preparing one target: the second finds it done
        return _build_bundle(files, config, device)


def _build_bundle(files: RunFiles, config: RunConfig, device: str) -> str:
    from evaluator.compute.pipeline import CANARY, EVAL, PUBLIC, Cache, weak_run

    task = files.task(config, create=True)
    seeds = files.seeds(config)
    manifest = files.bundle / MANIFEST
    if manifest.exists():
        done = json.loads(manifest.read_text())
        if done.get("task_key") == task.key and done.get("seeds") == seeds and (files.heldout / "final.json").exists():
            return f"bundle ready ({task.key}, seeds {seeds})"
    start = time.perf_counter()
    data = task.load()
    cache = Cache(files.cache, task, device)
    secret = files.data_seed()
    weak: dict[int, WeakLabels | list[float]] = {
        s: weak_run(task, data, s, device, cache, role=PUBLIC, secret=secret).labels() for s in seeds
    }
    for role in (EVAL, CANARY):  # the scored and the canary weak models, cached for the worker
        for s in seeds:
            weak_run(task, data, s, device, cache, role=role, secret=secret)
    write_heldout(data, files.heldout)
    write_bundle(task, data, weak, files.bundle)
    return f"bundle written ({task.key}, seeds {seeds}, {time.perf_counter() - start:.1f}s on {device})"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m evaluator.compute.prepare RUN_DIR", file=sys.stderr)
        return 2
    try:
        print(prepare(Path(args[0])))
    except AarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
