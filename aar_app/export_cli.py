"""``aar export RUN --submission ID [--out DIR] [--force]``: a reproducible record of a verified method.

Writes the method's source, ``manifest.json`` (versions, lockfile hash, every task's config, seeds, secret data
seed and data hashes, the per-seed results and PGR with CI of each, the verdict) and a README whose one
command, ``aar eval --reproduce DIR``, re-runs it. The folder holds the run's secret data seed, which
regenerates the toy task's held-out labels: it must never go where an agent can read it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aar.escape import visible
from aar.runtime import RunPaths
from aar.store import RunStore
from evaluator.daemon.export import SECRET_WARNING, Manifest, build_manifest, default_folder, write_export


async def export(paths: RunPaths, submission: int, out: Path | None, *, force: bool) -> tuple[Path, Manifest]:
    """Everything is read and checked before anything is written."""
    async with await RunStore.open(paths.db) as store:
        manifest, source = await build_manifest(paths, store, submission)
    folder = write_export(manifest, source, out or default_folder(paths, submission), force=force)
    return folder, manifest


def main(paths: RunPaths, *, submission: int, out: Path | None, force: bool) -> int:
    folder, manifest = asyncio.run(export(paths, submission, out, force=force))
    home = manifest.home.result
    score = "" if home is None or home.pgr is None else f" (PGR {home.pgr:.3f})"
    targets = sum(t.result is not None for t in manifest.targets)
    print(
        visible(
            f"submission #{submission}{score} exported to {folder}: {manifest.method.file}, manifest.json, README.md; "
            f"{targets} transfer target{'s' * (targets != 1)} recorded, verdict "
            f"{'recorded' if manifest.verdict else 'none'}"
        )
    )
    print(f"reproduce: aar eval --reproduce {visible(str(folder))}")
    print(f"warning: {SECRET_WARNING}")
    return 0
