"""``aar eval``: evaluate methods on a task from the shell, with PGR, CI, accuracies and wall time.

Runs in this process (torch loads here, as in the worker). Baselines are
cached by task and seed under ``--cache-dir``, so comparing several methods
trains weak and ceiling once. Scores the ``feedback`` split unless told
otherwise; the CI is a 95% bootstrap over seeds and test examples, and each
method is also compared with vanilla transfer (a paired bootstrap of the
difference). ``--reproduce DIR`` re-runs a method exported by ``aar export`` instead
(``evaluator.daemon.reproduce``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from aar.config import TaskConfig, format_validation_error, load_config
from aar.config.task import TASK_NAMES
from aar.devices import ANY_DEVICE_PATTERN, cpu_index, missing_device
from aar.errors import AarError
from aar.escape import visible
from aar.eval_jobs import JobStats

if TYPE_CHECKING:
    from evaluator.compute.hf.metrics import Meter
    from evaluator.daemon.bundle import WeakLabels


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aar" / "evaluator"


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="aar eval", description="Evaluate weak-to-strong methods: PGR with a 95% CI.")
    p.add_argument("--task", choices=list(TASK_NAMES), default="toy")
    p.add_argument(
        "--method", action="append", help="reference method name or a .py file defining run(ctx); repeat to compare"
    )
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--split", choices=["feedback", "final"], default="feedback")
    p.add_argument("--size", type=int, default=4000, help="toy: examples in train_unlabel")
    p.add_argument("--variant", help="toy: the generator's parameter set, default or classic")
    p.add_argument("--data-dir", type=Path, help="jsonl: folder with train_label/train_unlabel/test.jsonl")
    p.add_argument("--weak-model", type=Path, help="jsonl: local HF checkpoint")
    p.add_argument("--strong-model", type=Path, help="jsonl: local HF checkpoint")
    p.add_argument("--device", default=None, help="auto (CUDA when available; the default), cpu, cuda or cuda:N")
    p.add_argument("--cache-dir", type=Path, default=None, help=f"baseline cache (default {default_cache()})")
    p.add_argument("--no-cache", action="store_true", help="train every baseline afresh")
    p.add_argument(
        "--verbose", action="store_true", help="print each method's ctx.log lines, per seed, under the table"
    )
    p.add_argument(
        "--no-checks",
        action="store_true",
        help="skip the integrity checks a run's evaluator makes (the canary run on other weak labels doubles "
        "each method's time)",
    )
    p.add_argument(
        "--training",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="jsonl: a [training] key, e.g. max_tokens_per_batch=4096 or strong.lora=true (repeat)",
    )
    p.add_argument(
        "--reproduce",
        type=Path,
        metavar="DIR",
        help="re-run a method exported by `aar export` (its folder holds the run's secret data seed): checks the "
        "data, re-runs it on the home task and every transfer target with the recorded seeds, and compares each "
        "PGR with the recorded CI (--device defaults to the recorded one)",
    )
    args = p.parse_args(argv)
    args.device_given = args.device is not None
    args.device = args.device or "auto"
    if args.seeds < 1:
        p.error("--seeds must be at least 1")
    args.method = args.method or ["vanilla"]
    return args


def main(argv: list[str] | None = None, *, training_line: Callable[[JobStats], str] | None = None) -> int:
    """``aar eval``; ``training_line`` renders the training throughput (the composition root passes the
    TUI's text helper; run alone, the text report leaves that line out and ``--format json`` has it)."""
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.reproduce is not None:
        from evaluator.daemon.reproduce import main as reproduce_main

        return reproduce_main(args)
    try:
        report = evaluate(args)
    except AarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.format == "json" else render(report, training_line))
    return 0


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from evaluator.compute.context import MethodFn
    from evaluator.compute.hf.metrics import METER, Meter
    from evaluator.compute.loader import load_method
    from evaluator.compute.pipeline import CANARY, EVAL, Cache, make_context, public_view, run_method, seed_baseline
    from evaluator.compute.tasks import TASKS, load_task
    from evaluator.compute.training import resolve_device
    from evaluator.daemon.canary import canary_flags, ceiling_flags, hard
    from evaluator.daemon.scoring import per_seed_accuracy, score
    from evaluator.daemon.stats import correct, difference_ci
    from evaluator.daemon.submissions import is_majority

    start = time.perf_counter()
    if not re.fullmatch(ANY_DEVICE_PATTERN, args.device):
        raise AarError(f"--device {args.device}: use auto, cpu, cpu:N, cuda or cuda:N")
    problem = missing_device("--device", args.device)
    if problem:
        raise AarError(problem)
    training = load_config({}, [f"training.{kv}" for kv in args.training]).training
    given = {"size": args.size, "variant": args.variant, "data_dir": args.data_dir, "weak_model": args.weak_model}
    given |= {"strong_model": args.strong_model}
    fields = {k: v for k, v in given.items() if v is not None and k in TASKS[args.task].config.model_fields}
    try:
        config = TypeAdapter(TaskConfig).validate_python({"name": args.task, **fields})
    except ValidationError as exc:  # a jsonl path missing or not there
        lines = format_validation_error(exc)
        problems = [line.removeprefix("task.").removeprefix(f"{args.task}.").replace("_", "-") for line in lines]
        raise AarError("; ".join(f"--{p}" for p in problems)) from None
    task = load_task(config, training=training)
    methods = [load_method(m) for m in args.method]
    device = resolve_device("cpu" if cpu_index(args.device) is not None else args.device)
    data = task.load()
    public = public_view(data)
    cache = Cache(None if args.no_cache else (args.cache_dir or default_cache()), task, device)
    n_fb = len(data["feedback"])
    part = slice(0, n_fb) if args.split == "feedback" else slice(n_fb, None)
    labels = np.asarray(data[args.split].y)
    seeds = list(range(args.seeds))
    total = Meter()
    METER.reset()
    base, baseline_s = [], []
    for seed in seeds:
        t = time.perf_counter()
        base.append(seed_baseline(task, data, seed, device, cache))
        baseline_s.append(time.perf_counter() - t)
    weak = np.array([b.weak[part] for b in base])
    ceiling = np.array([b.ceiling[part] for b in base])
    vanilla = np.array([b.vanilla[part] for b in base])
    out: dict[str, Any] = {
        "task": task.name,
        "task_key": task.key,
        "split": args.split,
        "device": device,
        "seeds": seeds,
        "ci": "95% bootstrap over seeds and test examples",
        "baseline_seconds_per_seed": [round(s, 3) for s in baseline_s],
        "train_seconds_per_seed": [round(sum(b.seconds.values()), 3) for b in base],
        "baseline_training": _throughput(METER, total),
        "verbose": args.verbose,
        "checks": "off" if args.no_checks else "the evaluator service's: canary on other weak labels, seeds, ceiling",
        "methods": [],
    }

    def outputs(fn: MethodFn, seed: int, role: str) -> tuple[np.ndarray, list[str]]:
        """The method's P(y=1) on the test inputs (``feedback`` then ``final``) and its ``ctx.log`` lines."""
        weak = _weak_labels(task, data, seed, device, cache, role)
        ctx = make_context(task, public, np.asarray(weak.train), seed, device, weak_test_probs=weak.test)
        return run_method(fn, ctx), ctx.logs

    for name, fn in methods:
        METER.reset()
        t_method = time.perf_counter()
        logs: dict[str, list[str]] = {}
        reference = name == "vanilla" and fn.__module__ == "evaluator.compute.methods.vanilla"
        if reference:
            full, seconds = np.array([b.vanilla for b in base]), [b.seconds["vanilla"] for b in base]
        else:
            rows, seconds = [], []
            for seed in seeds:
                t = time.perf_counter()
                probs, logs[str(seed)] = outputs(fn, seed, EVAL)
                rows.append(probs)
                seconds.append(time.perf_counter() - t)
            full = np.array(rows)
        preds = full[:, part]
        scored = score(args.split, labels, weak, ceiling, preds)
        checks: dict[str, Any] = {}
        if not args.no_checks:
            # The evaluator service's own checks on a verified method, on this method's runs.
            runs = [{"feedback": f[:n_fb], "final": f[n_fb:]} for f in full]
            canaries = [{"feedback": c[:n_fb], "final": c[n_fb:]} for c in (outputs(fn, s, CANARY)[0] for s in seeds)]
            flagged, checks = canary_flags(runs, canaries)
            beyond, distances = ceiling_flags(runs, [b.ceiling for b in base])
            checks |= distances
            flagged += beyond + (["majority"] if is_majority([hard(r)[:n_fb].tolist() for r in runs]) else [])
            scored = scored.model_copy(update={"flags": scored.flags + flagged})
        diff = difference_ci(
            correct(weak, labels), correct(ceiling, labels), correct(preds, labels), correct(vanilla, labels)
        )
        out["methods"].append(
            {
                "method": name,
                **scored.metrics,
                "flags": scored.flags,
                "checks": checks,
                "logs": logs,
                "vs_vanilla": None if diff is None else {"difference": diff[0], "ci_low": diff[1], "ci_high": diff[2]},
                "acc_transfer_per_seed": per_seed_accuracy(preds, labels),
                "seconds_per_seed": [round(s, 3) for s in seconds],
                "wall_s": round(time.perf_counter() - t_method, 3),
                "training": _throughput(METER, total),
            }
        )
    out["training"] = total.snapshot().summary().model_dump()
    out["wall_s"] = round(time.perf_counter() - start, 3)
    return out


def _throughput(meter: Meter, total: Meter) -> dict[str, Any]:
    """What ``meter`` counted since its reset (also folded into ``total``)."""
    stats = meter.snapshot()
    total.merge(stats.model_dump())
    return stats.summary().model_dump()


def _weak_labels(task: Any, data: Any, seed: int, device: str, cache: Any, role: str) -> WeakLabels:
    """The weak labels of ``train_unlabel`` a method learns from: those of the baselines' weak model (role
    ``eval``), or of the canary's (``canary``: another weak model of the same kind)."""
    from evaluator.compute.pipeline import weak_run

    labels: WeakLabels = weak_run(task, data, seed, device, cache, role=role).labels()
    return labels


def render(report: dict[str, Any], training_line: Callable[[JobStats], str] | None = None) -> str:
    lines = [
        f"task {report['task']} ({report['task_key']}), split {report['split']}, {len(report['seeds'])} seeds on {report['device']}; "
        f"CI: {report['ci']}",
        f"baselines (weak + ceiling + vanilla + unsupervised) per seed: {', '.join(f'{s:.2f}s' for s in report['train_seconds_per_seed'])}",
        "",
        f"{'method':<14} {'PGR':>6}  {'95% CI':<16} {'weak':>6} {'transfer':>8} {'ceiling':>7}  {'vs vanilla [95% CI]':<24} {'s/seed':>6}",
    ]
    for m in report["methods"]:
        if m["pgr"] is None:
            pgr, ci = "  none", "(ceiling <= weak: no PGR)"
        else:
            pgr, ci = f"{m['pgr']:6.3f}", f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
        vs = m["vs_vanilla"]
        vs_text = (
            ""
            if vs is None or m["method"] == "vanilla"
            else f"{vs['difference']:+.3f} [{vs['ci_low']:+.3f}, {vs['ci_high']:+.3f}]"
        )
        per_seed = sum(m["seconds_per_seed"]) / max(1, len(m["seconds_per_seed"]))
        lines.append(
            f"{m['method']:<14} {pgr}  {ci:<16} {m['acc_weak']:6.3f} {m['acc_transfer']:8.3f} {m['acc_ceiling']:7.3f}  {vs_text:<24} {per_seed:6.2f}"
        )
    lines.append("")
    for m in report["methods"]:
        if "checks" not in m or (not m["checks"] and not m["flags"]):
            continue
        lines.append(f"{m['method']}: flags {', '.join(m['flags']) or 'none'}" + _checks_text(m["checks"]))
        for seed, said in m.get("logs", {}).items() if report.get("verbose") else ():
            lines += [f"  {m['method']} seed {seed}: {visible(line)}" for line in said]
    if training_line and (throughput := training_line(JobStats.model_validate(report.get("training", {})))):
        lines.append(f"training: {throughput}")
    lines.append(f"wall time {report['wall_s']:.1f}s")
    return "\n".join(lines)


def _checks_text(checks: dict[str, Any]) -> str:
    """What the checks measured, beside the lines they draw (``evaluator.daemon.canary``)."""
    from evaluator.daemon.canary import BEYOND_SHARE, CANARY_TOLERANCE, SEED_TOLERANCE

    parts = []
    if "canary_moved_per_seed" in checks:
        parts.append(
            f"canary moved {min(checks['canary_moved_per_seed']):.4f} (ignores_labels under {CANARY_TOLERANCE:g})"
        )
    if "seed_moved" in checks:
        parts.append(f"seeds moved {checks['seed_moved']:.4f} (seed_invariant under {SEED_TOLERANCE:g})")
    if "ceiling_distance" in checks:
        line = BEYOND_SHARE * checks["ceilings_distance"]
        parts.append(f"distance to its ceiling {checks['ceiling_distance']:.4f} (beyond_weak under {line:.4f})")
    return "; " + "; ".join(parts) if parts else ""


if __name__ == "__main__":
    raise SystemExit(main())
