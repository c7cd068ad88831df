"""The reference library on the toy task: every method's PGR with its 95% CI and the paired difference against
vanilla, over 5 seeds, by ``aar eval`` itself (the same scoring as a run's evaluator, integrity checks off).

Prints the table kept in evaluator/README.md, then the toy's targets checked against it:
  vanilla mid-range (0.15 to 0.4; 0.15 to 0.5 on digits); the best method at most 0.9; the unsupervised
  baseline (``cluster``) below the best weak-to-strong method, its CI's top under the best's bottom.

Usage: python bench/methods.py [--task toy|digits] [--seeds N] [--variant NAME] [--method NAME ...]
  (toy variants: default, classic, tilt, imbalanced, wide)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluator.compute.methods import REFERENCE_METHODS  # noqa: E402
from evaluator.daemon.cli import evaluate, parse, render  # noqa: E402

UNSUPERVISED = "cluster"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(VANILLA_TARGET), default="toy")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--variant", default="default", help="toy: the generator's parameter set")
    parser.add_argument("--method", action="append", help="a subset of the reference methods (default: all)")
    args = parser.parse_args()
    names = args.method or list(REFERENCE_METHODS)
    argv = ["--variant", args.variant, "--seeds", str(args.seeds), "--no-checks", "--no-cache"]
    for name in names:
        argv += ["--method", name]
    options = parse(argv)
    # ``aar eval --task`` offers toy and jsonl; the evaluation itself takes any registered task.
    options.task = args.task
    report = evaluate(options)
    print(render(report))
    print()
    for line in verdicts(report["methods"], VANILLA_TARGET[args.task]):
        print(line)


VANILLA_TARGET = {"toy": (0.15, 0.4), "digits": (0.15, 0.5)}
"""Where vanilla's PGR should sit on each task: mid-range, with headroom above."""


def verdicts(methods: list[dict[str, Any]], vanilla_target: tuple[float, float] = VANILLA_TARGET["toy"]) -> list[str]:
    """The task's targets, each a line with the numbers it was judged on."""
    by = {m["method"]: m for m in methods if m["pgr"] is not None}
    out = []
    low, high = vanilla_target
    if "vanilla" in by:
        v = by["vanilla"]["pgr"]
        out.append(f"vanilla PGR {v:.3f}: {'ok' if low <= v <= high else 'MISSED'} (target {low:g} to {high:g})")
    w2s = {k: m for k, m in by.items() if k != UNSUPERVISED}
    if w2s:
        best = max(w2s.values(), key=lambda m: m["pgr"])
        top = max(by.values(), key=lambda m: m["pgr"])
        out.append(
            f"best method {top['method']} PGR {top['pgr']:.3f}: {'ok' if top['pgr'] <= 0.9 else 'MISSED'} (target <= 0.9)"
        )
        if UNSUPERVISED in by:
            u = by[UNSUPERVISED]
            below = u["ci_high"] < best["ci_low"]
            out.append(
                f"unsupervised {u['pgr']:.3f} [{u['ci_low']:.3f}, {u['ci_high']:.3f}] vs best weak-to-strong "
                f"{best['method']} {best['pgr']:.3f} [{best['ci_low']:.3f}, {best['ci_high']:.3f}]: "
                f"{'ok' if below else 'MISSED'} (target: clearly below)"
            )
    return out


if __name__ == "__main__":
    main()
