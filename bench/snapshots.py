"""Workspace snapshot benchmark: what a snapshot stores, and what it costs an agent's step.

A workspace of FILES files (mixed sizes, about 20 MB in all, in twenty folders) is snapshotted once in full;
then, ROUNDS times, an agent step (FILES_CHANGED files rewritten with new content, then a small experiment: a
``python -c`` that computes for about half a second, as the scripted researcher's do) is run twice, alternating
which goes first (the machines are shared and noisy): once alone (in a second workspace like the first, so
that each snapshot sees its own step's changes only) and once followed by a snapshot. Printed:

1. the bytes each snapshot added to the blob store against the bytes the step changed (target <= 1.1x), and
   the manifest the store's row holds beside them;
2. the snapshot's own time, and the wall time of a step with a snapshot after it over one without
   (target <= 1.05), the headline on the last line.

Usage: python bench/snapshots.py [ROUNDS] (default 20)
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar import snapshots  # noqa: E402
from aar.snapshot_blobs import MANIFEST  # noqa: E402
from aar.store import RunStore  # noqa: E402

FILES = 1000
FILES_CHANGED = 10
TOTAL_BYTES = 20_000_000
AGENT = "agent-1"
EXPERIMENT = "import time\nend = time.perf_counter() + 0.5\nn = 0\nwhile time.perf_counter() < end:\n    n += 1"
"""The step's experiment: half a second of CPU in a fresh interpreter."""


def build_workspace(folder: Path, rng: random.Random) -> list[Path]:
    """``FILES`` files of log-uniform sizes (a few hundred bytes to a few hundred KB), ``TOTAL_BYTES`` in all."""
    weights = [2 ** rng.uniform(8, 19) for _ in range(FILES)]
    scale = TOTAL_BYTES / sum(weights)
    paths = []
    for i, weight in enumerate(weights):
        path = folder / f"exp{i % 20:02d}" / f"out{i:04d}.{'json' if i % 3 else 'npy'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(max(1, int(weight * scale))))
        paths.append(path)
    return paths


def step(paths: list[Path], rng: random.Random) -> int:
    """One agent step: rewrite ``FILES_CHANGED`` files with new content (sizes kept roughly), then run the
    experiment; returns the bytes written."""
    written = 0
    for path in rng.sample(paths, FILES_CHANGED):
        size = max(1, int(path.stat().st_size * rng.uniform(0.8, 1.2)))
        path.write_bytes(rng.randbytes(size))
        written += size
    subprocess.run([sys.executable, "-c", EXPERIMENT], check=True)
    return written


async def main(rounds: int) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="aar-bench-snapshots-") as tmp:
        root = Path(tmp)
        workspace = root / "workspaces" / AGENT
        paths = build_workspace(workspace, rng)
        # Where the steps with no snapshot write: the same work, and each snapshot sees only its own step's.
        spare = build_workspace(root / "workspaces" / "spare", rng)
        async with await RunStore.open(root / "run.db", create=True) as store:
            start = time.perf_counter()
            first = await snapshots.take(store, root, AGENT, 0, workspace, reason="start")
            print(
                f"first snapshot of {first.files:,} files, {first.bytes / 1e6:.1f} MB: "
                f"{(time.perf_counter() - start) * 1000:.0f} ms, {first.added_bytes / 1e6:.1f} MB of blobs"
            )
            await asyncio.sleep(1.1)  # past the racy second of the first snapshot, as the next step would be
            alone: list[float] = []
            with_snapshot: list[float] = []
            taking: list[float] = []
            changed = added = manifest = 0
            for n in range(rounds):
                for snapshot_after in (n % 2 == 0, n % 2 == 1):
                    start = time.perf_counter()
                    written = await asyncio.to_thread(step, paths if snapshot_after else spare, rng)
                    if not snapshot_after:
                        alone.append(time.perf_counter() - start)
                        continue
                    took = time.perf_counter()
                    row = await snapshots.take(store, root, AGENT, 2 * n + 1, workspace, reason="timer")
                    end = time.perf_counter()
                    taking.append(end - took)
                    with_snapshot.append(end - start)
                    changed += written
                    added += row.added_bytes
                    manifest += len(MANIFEST.dump_json(row.manifest or []))
            report(rounds, alone, with_snapshot, taking, changed, added, manifest)


def report(
    rounds: int,
    alone: list[float],
    with_snapshot: list[float],
    taking: list[float],
    changed: int,
    added: int,
    manifest: int,
) -> None:
    ms = 1000
    print(
        f"bytes stored per snapshot (blobs): {added / rounds / 1e3:.0f} kB for {changed / rounds / 1e3:.0f} kB "
        f"written by its step: {added / changed:.2f}x (target <= 1.1x)"
    )
    print(
        f"the store's row beside them (the manifest, {FILES:,} files): {manifest / rounds / 1e3:.0f} kB per snapshot; "
        f"blobs and manifest together {(added + manifest) / changed:.2f}x the bytes written"
    )
    print(
        f"snapshot after a step ({FILES_CHANGED} of {FILES:,} files changed): p50 {statistics.median(taking) * ms:.0f} ms, "
        f"max {max(taking) * ms:.0f} ms"
    )
    print(
        f"step alone: p50 {statistics.median(alone) * ms:.0f} ms; step + snapshot: "
        f"p50 {statistics.median(with_snapshot) * ms:.0f} ms ({rounds} of each, alternating)"
    )
    print(
        f"headline: a step with a snapshot after it takes {sum(with_snapshot) / sum(alone):.3f}x the wall time "
        f"of one without (p50s {statistics.median(with_snapshot) / statistics.median(alone):.3f}x; target <= 1.05)"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
