"""``aar report --final``: score the private ``final`` split, once per run, and nothing else ever does.

Each scored method submission's final predictions (kept by verification)
are scored against the final labels with the same per-seed baselines, and
so are vanilla transfer and the unsupervised reference (results without a submission).
Prediction submissions carry feedback predictions only, so they have no
final score. A second call is refused: the final split is a one-shot
measurement, and scoring it again is how results get cherry-picked.
"""

from __future__ import annotations

import json
import time

import numpy as np

from aar.config import RunConfig
from aar.errors import AarError
from aar.runtime import RunPaths
from aar.store import ResultRow, RunStore
from evaluator.compute.pipeline import Cache, SeedBaseline, baseline_name
from evaluator.daemon.bundle import read_heldout, read_subsets
from evaluator.daemon.job_specs import FinalJob, enqueue
from evaluator.daemon.runfiles import RunFiles
from evaluator.daemon.scoring import score

META_KEY = "final_scored_ts"


class FinalAlreadyScored(AarError):
    """The final split of this run was already scored."""


async def score_final(store: RunStore, paths: RunPaths, config: RunConfig) -> list[ResultRow]:
    """Score ``final`` for every scored method submission and for vanilla; refuse a second time."""
    done = await store.get_meta(META_KEY)
    if done is not None or await store.results(split="final"):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(done))) if done else "earlier"
        raise FinalAlreadyScored(f"the final split of this run was already scored ({when}); it is scored once per run")
    files = RunFiles(paths)
    labels = read_heldout(files.heldout, "final")
    subsets = read_subsets(files.heldout, "final")
    seeds = list(range(config.evaluator.seeds))
    base = _baselines(files, config, seeds)
    n_fb = len(base[0].weak) - len(labels)
    weak = np.array([b.weak[n_fb:] for b in base])
    ceiling = np.array([b.ceiling[n_fb:] for b in base])
    await store.set_meta(META_KEY, str(time.time()))
    job_id = await enqueue(store, FinalJob(seeds=seeds), status="done")
    for name in ("vanilla", "unsupervised"):
        predictions = np.array([getattr(b, name)[n_fb:] for b in base])
        reference = score("final", labels, weak, ceiling, predictions, extra={"baseline": name}, subsets=subsets)
        await store.add_result(job_id, submission_id=None, **reference.model_dump())
    for sub in await store.submissions(kind="method"):
        if sub.status != "scored":
            continue
        runs = [files.verify(sub.id) / f"seed{s}.json" for s in seeds]
        if not all(p.exists() for p in runs):
            continue
        transfer = np.array([json.loads(p.read_text())["final"] for p in runs])
        extra = {"method": sub.payload.get("filename", "")}
        result = score("final", labels, weak, ceiling, transfer, extra=extra, subsets=subsets)
        await store.add_result(job_id, submission_id=sub.id, **result.model_dump())
    return await store.results(split="final")


def _baselines(files: RunFiles, config: RunConfig, seeds: list[int]) -> list[SeedBaseline]:
    found = cached_baselines(files, config, seeds)
    if found is None:
        raise AarError(
            "the baselines of this run are not finished; let the daemon's evaluator finish them (aar resume), then"
            " score final"
        )
    return found


def cached_baselines(files: RunFiles, config: RunConfig, seeds: list[int]) -> list[SeedBaseline] | None:
    """The worker's cached baselines of ``seeds`` on ``files``' task (its key, its secret, this cache version),
    all from one device's cache; None until every one of them is there."""
    task = files.task(config)
    secret = files.data_seed()
    for folder in sorted((files.cache / task.key).glob("*")) if (files.cache / task.key).exists() else []:
        cache = Cache(files.cache, task, folder.name.rsplit("-v", 1)[0])
        found = [b for s in seeds if (b := cache.get(baseline_name(s, secret), SeedBaseline)) is not None]
        if len(found) == len(seeds):
            return found
    return None
