"""``aar compare RUN A B [--json]``: two methods side by side (``evaluator.daemon.compare``).

``A`` and ``B`` are method submission ids, or ``vanilla`` for the evaluator's baseline. For the home task's
feedback split (and final, once scored) and each transfer target both were run on: per-seed accuracy and PGR
of each, each PGR with its 95% CI, and the paired difference A - B with its CI; then the source diff. The
sources were written by agents: every line printed is escaped.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

from aar.config import load_config
from aar.escape import one_line, visible
from aar.reference_methods import reference_source
from aar.runtime import RunPaths
from aar.store import RunStore
from evaluator.daemon.compare import VANILLA, CompareError, Comparison, Side, compare, source_diff


async def _side(store: RunStore, which: str) -> Side:
    if which == VANILLA:
        return Side(VANILLA, None, reference_source(VANILLA), "evaluator/compute/methods/vanilla.py")
    try:
        sid = int(which.removeprefix("#"))
    except ValueError:
        raise CompareError(f"{which!r}: give a submission id (12 or #12) or {VANILLA}") from None
    sub = await store.submission(sid)
    if sub is None:
        raise CompareError(f"no submission #{sid} in this run")
    if sub.kind != "method":
        raise CompareError(f"submission #{sid} is a prediction file: only methods have per-seed runs to compare")
    return Side(f"#{sid}", sid, str(sub.payload.get("source", "")), sub.label or str(sub.payload.get("filename", "")))


async def gather(paths: RunPaths, a: str, b: str) -> tuple[Side, Side, list[Comparison], list[str]]:
    config = load_config(paths.config)
    async with await RunStore.open(paths.db) as store:
        side_a, side_b = await _side(store, a), await _side(store, b)
        final_scored = bool(await store.results(split="final"))
    found, notes = await asyncio.to_thread(compare, paths, config, side_a, side_b, final_scored=final_scored)
    return side_a, side_b, found, notes


def _pgr(value: tuple[float | None, float | None, float | None]) -> str:
    estimate, low, high = value
    if estimate is None:
        return "no PGR"
    return f"{estimate:.3f} [{low:.3f}, {high:.3f}]" if low is not None and high is not None else f"{estimate:.3f}"


def _num(value: float | None, signed: bool = False) -> str:
    return "-" if value is None else (f"{value:+.3f}" if signed else f"{value:.3f}")


def render(a: Side, b: Side, found: list[Comparison], notes: list[str]) -> list[str]:
    lines = [one_line(f"A = {a.name} ({a.label}), B = {b.name} ({b.label})")]
    for c in found:
        lines += ["", f"{c.scope} (seeds {', '.join(map(str, c.seeds))})"]
        lines.append(f"  {'seed':>4}  {'acc A':>6}  {'acc B':>6}  {'PGR A':>7}  {'PGR B':>7}  {'A - B':>7}")
        for r in c.rows:
            lines.append(
                f"  {r.seed:>4}  {r.acc_a:6.3f}  {r.acc_b:6.3f}  {_num(r.pgr_a):>7}  {_num(r.pgr_b):>7}"
                f"  {_num(r.diff, True):>7}"
            )
        diff = "undefined" if c.diff is None else f"{c.diff[0]:+.3f} [{c.diff[1]:+.3f}, {c.diff[2]:+.3f}]"
        lines.append(f"  PGR A {_pgr(c.pgr_a)}  PGR B {_pgr(c.pgr_b)}  A - B {diff} (paired 95% CI)")
    lines += ["", *notes] if notes else []
    diff_lines = source_diff(a, b)
    lines += ["", "source diff (A -> B):" if diff_lines else "source: identical"]
    lines += [visible(line) for line in diff_lines]
    return lines


def main(paths: RunPaths, a: str, b: str, *, as_json: bool) -> int:
    side_a, side_b, found, notes = asyncio.run(gather(paths, a, b))
    if as_json:
        body = {
            "a": asdict(side_a) | {"source": None},
            "b": asdict(side_b) | {"source": None},
            "comparisons": [asdict(c) | {"rows": [asdict(r) | {"diff": r.diff} for r in c.rows]} for c in found],
            "notes": notes,
            "source_diff": source_diff(side_a, side_b),
        }
        print(json.dumps(body, indent=2))
        return 0
    print("\n".join(render(side_a, side_b, found, notes)))
    return 0
