"""``python -m evaluator.compute.run_method METHOD.py --bundle task --seed S --out preds.json``.

Runs a method inside an agent's sandbox (or the evaluator's verification
sandbox) on the public bundle alone: it builds the ``MethodContext`` of seed
S, calls ``run(ctx)`` and writes predictions for the ``feedback`` and
``final`` inputs. It cannot print an accuracy: no held-out label is here.

``--seed`` repeats (``--seed 0 --seed 1 --out preds-{seed}.json``): the seeds run one after another in
this one process, as ``aar eval`` runs them, each written to its own file as soon as it is done. That is
how the evaluator verifies a method: starting Python and torch costs several times a toy seed's work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aar.errors import AarError
from evaluator.compute.hf.metrics import METER
from evaluator.compute.loader import load_method
from evaluator.compute.tasks.base import MethodError
from evaluator.daemon.bundle import Bundle, read_bundle

if TYPE_CHECKING:
    from evaluator.compute.context import MethodFn


class Predictions:
    """The file this command writes (and the evaluator reads back)."""

    @staticmethod
    def dump(
        path: Path,
        *,
        seed: int,
        task_key: str,
        method: str,
        probs: list[float],
        n_feedback: int,
        seconds: float,
        logs: list[str],
        training: dict[str, Any] | None = None,
    ) -> None:
        data = {
            "seed": seed,
            "task_key": task_key,
            "method": method,
            "seconds": round(seconds, 3),
            "feedback": [round(p, 5) for p in probs[:n_feedback]],
            "final": [round(p, 5) for p in probs[n_feedback:]],
            "logs": logs[-50:],
            "training": training or {},
        }
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluator.compute.run_method", description=__doc__.splitlines()[0])
    parser.add_argument("method", help="a .py file defining run(ctx), or a reference method name")
    parser.add_argument("--bundle", type=Path, default=Path("task"), help="the task bundle folder (default: task)")
    parser.add_argument(
        "--seed", type=int, action="append", help="a seed of the bundle's weak labels (default 0); repeat for several"
    )
    parser.add_argument(
        "--out", default="preds.json", help="the predictions file; with several seeds a name holding {seed}"
    )
    parser.add_argument("--device", default=os.environ.get("AAR_DEVICE", "auto"), help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    args.seed = list(dict.fromkeys(args.seed or [0]))
    if len(args.seed) > 1 and "{seed}" not in args.out:
        parser.error(
            f"--out {args.out}: with several seeds, name each seed's file with {{seed}}, e.g. preds-{{seed}}.json"
        )
    try:
        return _run(args)
    except AarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    import torch

    from evaluator.compute.training import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = read_bundle(args.bundle)
    missing = [s for s in args.seed if s not in bundle.weak_probs]
    if missing:
        raise AarError(f"seed {missing[0]} has no weak labels in the bundle; use one of {bundle.seeds}")
    name, fn = load_method(args.method)
    device = resolve_device(args.device)
    for seed in args.seed:
        code = _run_seed(bundle, name, fn, seed, device, Path(args.out.replace("{seed}", str(seed))))
        if code:
            return code
    print(
        "No accuracy here: held-out labels are not in the bundle. Submit the method or the feedback predictions to be scored."
    )
    return 0


def _run_seed(bundle: Bundle, name: str, fn: MethodFn, seed: int, device: str, out: Path) -> int:
    """One seed of the method, its predictions written to ``out``; 1 (and the traceback) when it raised."""
    from evaluator.compute.pipeline import make_context, run_method

    ctx = make_context(
        bundle.task, bundle.data, bundle.weak_probs[seed], seed, device, weak_test_probs=bundle.weak_test.get(seed)
    )
    METER.reset()  # each seed's file holds its own training figures
    start = time.perf_counter()
    try:
        probs = run_method(fn, ctx)
    except Exception as exc:
        traceback.print_exc()
        # The last line is what the agent gets back first: the API's own line where it raised one.
        line = str(exc) if isinstance(exc, MethodError) else "run(ctx) raised (traceback above)"
        print(f"error: {name}: {line}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    Predictions.dump(
        out,
        seed=seed,
        task_key=bundle.manifest["task_key"],
        method=name,
        probs=probs.tolist(),
        n_feedback=ctx.n_feedback,
        seconds=seconds,
        logs=ctx.logs,
        training=METER.snapshot().model_dump(),
    )
    fb = probs[: ctx.n_feedback] > 0.5
    for line in ctx.logs[-10:]:
        print(line)
    print(
        f"{name} seed {seed} on {device}: {seconds:.1f}s; {len(probs)} predictions written to {out} "
        f"({ctx.n_feedback} feedback, {len(probs) - ctx.n_feedback} final; {fb.mean():.1%} of feedback predicted 1)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
