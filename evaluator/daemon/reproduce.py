"""``aar eval --reproduce DIR``: re-run an exported method (``aar export``) and compare it with the record.

The data is checked first (every pinned file's sha256). Then each task of the record (the home task and every
transfer target that has a recorded score) is rebuilt from its ``[task]`` table and secret data seed, and
the method goes down the path its recorded numbers came from: the baselines and the ``eval`` role's weak
labels of each seed trained as the worker trains them, a bundle written with those weak labels as
``stage_bundle`` writes a verification sandbox's, and ``python -m evaluator.compute.run_method`` over the
seeds in one fresh process, with the command line and the scrubbed environment of the verification sandbox (but no sandbox: the supervisor runs it, as
``aar eval --method`` does). Scored outside, on the feedback split. On the same kind of device a toy task
reproduces exactly, seed for seed.

Torch loads here (in-function imports): this is the shell's ``aar eval``, never the daemon.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aar.config import TrainingConfig
from aar.devices import missing_device
from aar.errors import AarError
from aar.escape import one_line
from evaluator.daemon.export import Manifest, TaskRecord, read_export

OUTPUT_TAIL = 400
"""Characters of a failed method's output shown in its one line."""


def main(args: argparse.Namespace) -> int:
    """0 when every result falls within its recorded CI, 1 when one does not, 2 when it could not run."""
    try:
        report = reproduce(args.reproduce, device=args.device if args.device_given else None, cache=args.cache_dir)
    except AarError as exc:
        print(f"error: {one_line(str(exc), 500)}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.format == "json" else render(report))
    return 0 if report["reproduced"] else 1


def reproduce(folder: Path, *, device: str | None = None, cache: Path | None = None) -> dict[str, Any]:
    """Re-run the record in ``folder``; ``device`` defaults to the recorded one, the baselines are trained
    afresh unless ``cache`` names a baseline cache."""
    start = time.perf_counter()
    manifest, source = read_export(Path(folder))
    wanted = device or manifest.device
    problem = missing_device("--device", wanted)
    if problem:
        raise AarError(problem)
    tasks: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="aar-reproduce-") as scratch:
        root = Path(cache) if cache is not None else Path(scratch) / "cache"
        for record in [manifest.home, *manifest.targets]:
            if record.result is None:
                tasks.append({"name": record.name, "status": "not recorded", "note": "never run there: skipped"})
                continue
            if record.data_seed is None:
                tasks.append({"name": record.name, "status": "not recorded", "note": "no secret data seed: skipped"})
                continue
            tasks.append(_reproduce_task(manifest, record, source, wanted, root, Path(scratch)))
    missed = [t["name"] for t in tasks if t["status"] == "outside"]
    return {
        "folder": str(folder),
        "run_id": manifest.run_id,
        "submission_id": manifest.method.submission_id,
        "method": manifest.method.file,
        "device": wanted,
        "recorded_device": manifest.device,
        "tasks": tasks,
        "missed": missed,
        "reproduced": not missed and any(t["status"] == "within" for t in tasks),
        "wall_s": round(time.perf_counter() - start, 3),
    }


def _reproduce_task(
    manifest: Manifest, record: TaskRecord, source: str, device: str, cache_root: Path, scratch: Path
) -> dict[str, Any]:
    import numpy as np

    from evaluator.compute.pipeline import EVAL, Cache, seed_baseline, weak_run
    from evaluator.compute.tasks import load_task
    from evaluator.compute.training import resolve_device
    from evaluator.daemon.bundle import WeakLabels, write_bundle
    from evaluator.daemon.scoring import per_seed_accuracy, score

    assert record.result is not None and record.data_seed is not None
    start = time.perf_counter()
    torch_device = resolve_device(device)
    training = TrainingConfig.model_validate(manifest.training)
    task = load_task(record.task_config(), data_seed=record.data_seed, training=training)
    data = task.load()
    cache = Cache(cache_root / record.name, task, torch_device)
    seeds = record.seeds
    secret = record.data_seed
    base = [seed_baseline(task, data, s, torch_device, cache, secret=secret) for s in seeds]
    weak: dict[int, WeakLabels | list[float]] = {
        s: weak_run(task, data, s, torch_device, cache, role=EVAL, secret=secret).labels() for s in seeds
    }
    work = scratch / f"work-{record.name}"
    write_bundle(task, data, weak, work / "task")
    filename = manifest.method.file
    (work / filename).write_text(source)
    method_device = "cpu" if torch_device == "cpu" else "auto"
    runs = _run_seeds(work, filename, seeds, method_device)
    n = len(data["feedback"])
    labels = np.asarray(data["feedback"].labels)
    transfer = np.array([r[:n] for r in runs])
    scored = score(
        "seeds",
        labels,
        np.array([b.weak[:n] for b in base]),
        np.array([b.ceiling[:n] for b in base]),
        transfer,
    )
    per_seed = per_seed_accuracy(transfer, labels)
    recorded = record.result
    recorded_per_seed = {s.seed: s.acc_transfer for s in recorded.per_seed}
    inside = _within(scored.pgr, recorded.pgr, recorded.ci_low, recorded.ci_high)
    return {
        "name": record.name,
        "task": record.task,
        "seeds": seeds,
        "status": "within" if inside else "outside",
        "pgr": scored.pgr,
        "ci_low": scored.ci_low,
        "ci_high": scored.ci_high,
        "recorded_pgr": recorded.pgr,
        "recorded_ci_low": recorded.ci_low,
        "recorded_ci_high": recorded.ci_high,
        "acc_transfer_per_seed": per_seed,
        "recorded_acc_transfer_per_seed": [recorded_per_seed.get(s) for s in seeds],
        "exact_seeds": [s for s, a in zip(seeds, per_seed, strict=True) if recorded_per_seed.get(s) == a],
        "wall_s": round(time.perf_counter() - start, 3),
    }


def _within(value: float | None, recorded: float | None, low: float | None, high: float | None) -> bool:
    if recorded is None or low is None or high is None:
        return value is None  # no PGR recorded (ceiling <= weak): reproduced when there is none again
    return value is not None and low <= value <= high


def _run_seeds(work: Path, filename: str, seeds: list[int], device: str) -> list[list[float]]:
    """The method over ``seeds`` in one fresh process, as the verification sandbox runs it: per seed, its P(y=1)
    on ``feedback`` then ``final``, rounded as ``run_method`` writes them."""
    from evaluator.daemon.verify import PREDICTIONS, run_method_argv
    from sandbox.policy import base_env, local_path

    env = base_env(home=str(work), path=local_path(), gpus="none" if device == "cpu" else "all")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])  # this aar, wherever the shell's cwd is
    _, *argv = run_method_argv(filename, seeds, device)
    done = subprocess.run([sys.executable, *argv], cwd=work, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # the seed it was on: the first whose predictions it did not write
        seed = next((s for s in seeds if not (work / PREDICTIONS.format(seed=s)).exists()), seeds[-1])
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])[-OUTPUT_TAIL:]
        raise AarError(f"seed {seed}: the method exited with {done.returncode}: {tail}")
    runs = []
    for seed in seeds:
        out = work / PREDICTIONS.format(seed=seed)
        try:
            data = json.loads(out.read_text())
            runs.append([float(v) for v in data["feedback"] + data["final"]])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AarError(f"seed {seed}: the method wrote no readable {out.name}: {exc}") from None
    return runs


def render(report: dict[str, Any]) -> str:
    lines = [
        f"reproducing submission #{report['submission_id']} ({report['method']}) of run {report['run_id']} "
        f"on {report['device']} (recorded on {report['recorded_device']})"
    ]
    for t in report["tasks"]:
        if t["status"] == "not recorded":
            lines.append(f"{t['name']}: {t['note']}")
            continue
        exact = len(t["exact_seeds"]) == len(t["seeds"])
        accs = ", ".join(f"{a:.4f}" for a in t["acc_transfer_per_seed"])
        lines.append(
            f"{t['name']} ({_task_text(t['task'])}, seeds {t['seeds']}): PGR {_pgr(t['pgr'])}, recorded "
            f"{_pgr(t['recorded_pgr'])} [{_pgr(t['recorded_ci_low'])}, {_pgr(t['recorded_ci_high'])}]: "
            f"{'within' if t['status'] == 'within' else 'OUTSIDE'} the recorded CI; per-seed transfer accuracy "
            f"{accs} ({'exact' if exact else 'differs on seeds ' + str(sorted(set(t['seeds']) - set(t['exact_seeds'])))}"
            f"); {t['wall_s']:.1f}s"
        )
    if report["reproduced"]:
        lines.append(f"reproduced ({report['wall_s']:.1f}s)")
    elif report["missed"]:
        lines.append(f"not reproduced: outside the recorded CI on {', '.join(report['missed'])}")
    else:
        lines.append("not reproduced: nothing in the record was re-run")
    return "\n".join(lines)


def _task_text(task: dict[str, Any]) -> str:
    return " ".join(f"{v}" if k == "name" else f"{k}={v}" for k, v in task.items())


def _pgr(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"
