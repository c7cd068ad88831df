"""What the worker does with each kind of job (torch loads here, in the worker process only).

baselines    weak, ceiling and vanilla over the run's seeds (cached); result: vanilla's PGR
predictions  one 0/1 per feedback input, scored against every seed's baselines
method       a submitted method re-run over the run's seeds in a fresh sandbox, scored outside it,
             and once more over every seed on the canary (another weak model's labels; ``evaluator.daemon.canary``)
transfer     a verified method re-run the same way on a transfer target's own task, bundle and baselines
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from aar.config import RunConfig, SandboxConfig, TransferTarget
from aar.devices import gpus_of
from aar.runtime import RunPaths
from evaluator.daemon.bundle import WeakLabels, read_heldout, read_subsets
from evaluator.daemon.job_specs import BaselinesJob, JobError, MethodJob, PredictionsJob, TransferJob
from evaluator.daemon.runfiles import RunFiles
from evaluator.daemon.scoring import Scored, describe, per_seed_accuracy, score

Report = Callable[[float, str], None]
"""``report(fraction_done, detail)``: thread-safe progress of the job in hand."""


class Evaluation:
    """The run's task, data and baselines, loaded once per worker process."""

    def __init__(
        self,
        paths: RunPaths,
        config: RunConfig,
        device: str,
        *,
        pool_device: str = "",
        target: TransferTarget | None = None,
        threads: int = 0,
    ) -> None:
        self.paths = paths
        self.config = config
        self.device = device
        self.pool_device = pool_device or config.evaluator.device
        """The worker's device in the pool (``cuda:1``); ``device`` is torch's name for it here."""
        self.threads = threads
        """torch CPU threads of a method in its verification sandbox (0: torch's default, every core the
        sandbox may use); a Ray task sets the CPUs its job asked for."""
        self.files = RunFiles(paths, target)
        self._targets: dict[str, Evaluation] = {}

    def for_target(self, name: str) -> Evaluation:
        """The same worker's view of the transfer target ``name``: its task, files and seeds (built once)."""
        if self.files.target is not None:
            raise JobError("a transfer target has no targets of its own")
        if name not in self._targets:
            target = self.config.transfer.target(name)
            if target is None:
                known = ", ".join(t.name for t in self.config.transfer.targets) or "none"
                raise JobError(f"no transfer target {name!r} in the run's config (known: {known})")
            self._targets[name] = Evaluation(
                self.paths, self.config, self.device, pool_device=self.pool_device, target=target, threads=self.threads
            )
        return self._targets[name]

    @property
    def sandbox_config(self) -> SandboxConfig:
        """A verification sandbox gets the worker's own GPU, or none on a CPU device."""
        if self.pool_device in ("auto", "cuda"):
            return self.config.sandbox
        return self.config.sandbox.model_copy(update={"gpus": gpus_of([self.pool_device])})

    @property
    def method_device(self) -> str:
        """``--device`` of ``run_method`` inside the verification sandbox."""
        return "auto" if self.sandbox_config.gpus != "none" else "cpu"

    @cached_property
    def task(self) -> Any:
        return self.files.task(self.config)

    @cached_property
    def data(self) -> Any:
        return self.task.load()

    @cached_property
    def feedback_labels(self) -> np.ndarray:
        return read_heldout(self.files.heldout, "feedback")

    @cached_property
    def feedback_subsets(self) -> list[str] | None:
        """Each feedback row's subset where the task names them (PGR is then reported per subset too)."""
        return read_subsets(self.files.heldout, "feedback")

    @cached_property
    def secret(self) -> int:
        """The run's secret: it draws the weak models of every role (``pipeline.weak_key``)."""
        return self.files.data_seed()

    def weak_labels(self, role: str, seeds: list[int]) -> dict[int, WeakLabels]:
        """The ``role`` weak model's P(y=1) on ``train_unlabel`` and on the test inputs, for each seed
        (cached, trained once)."""
        from evaluator.compute.pipeline import Cache, weak_run

        store = Cache(self.files.cache, self.task, self.device)
        return {
            s: weak_run(self.task, self.data, s, self.device, store, role=role, secret=self.secret).labels()
            for s in seeds
        }

    @property
    def seeds(self) -> list[int]:
        return self.files.seeds(self.config)

    @property
    def n_feedback(self) -> int:
        return len(self.feedback_labels)

    def baselines(self, seeds: list[int], report: Report, *, cache: bool = True) -> list[Any]:
        from evaluator.compute.pipeline import Cache, seed_baseline

        store = Cache(self.files.cache if cache else None, self.task, self.device)
        out = []
        for i, seed in enumerate(seeds):

            def stage(f: float, label: str, i: int = i, seed: int = seed) -> None:
                report((i + f) / len(seeds), f"seed {seed}: {label}")

            out.append(seed_baseline(self.task, self.data, seed, self.device, store, stage, secret=self.secret))
        return out

    def baseline_matrices(
        self, seeds: list[int], report: Report, *, cache: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
        """Feedback predictions of weak, ceiling and vanilla, one row per seed."""
        rows = self.baselines(seeds, report, cache=cache)
        n = self.n_feedback
        return (
            np.array([r.weak[:n] for r in rows]),
            np.array([r.ceiling[:n] for r in rows]),
            np.array([r.vanilla[:n] for r in rows]),
            rows,
        )


def run_baselines(ev: Evaluation, spec: BaselinesJob, report: Report) -> list[Scored]:
    """Vanilla's PGR (with each seed's accuracies), and the unsupervised reference's: the two lines every
    submission is read against on the leaderboard."""
    seeds = ev.seeds if spec.seeds is None else spec.seeds
    start = time.perf_counter()
    weak, ceiling, vanilla, rows = ev.baseline_matrices(seeds, report, cache=spec.cache)
    labels = ev.feedback_labels
    extra = {
        "baseline": "vanilla",
        "per_seed": [
            {"seed": r.seed, "acc_weak": w, "acc_ceiling": c, "acc_transfer": v, "seconds": r.seconds}
            for r, w, c, v in zip(
                rows,
                per_seed_accuracy(weak, labels),
                per_seed_accuracy(ceiling, labels),
                per_seed_accuracy(vanilla, labels),
                strict=False,
            )
        ],
        "wall_s": round(time.perf_counter() - start, 3),
        "device": ev.device,
    }
    unsupervised = np.array([r.unsupervised[: ev.n_feedback] for r in rows])
    return [
        score("feedback", labels, weak, ceiling, vanilla, extra=extra, subsets=ev.feedback_subsets),
        score(
            "feedback",
            labels,
            weak,
            ceiling,
            unsupervised,
            extra={"baseline": "unsupervised", "device": ev.device},
            subsets=ev.feedback_subsets,
        ),
    ]


def run_predictions(ev: Evaluation, spec: PredictionsJob, report: Report) -> list[Scored]:
    preds = np.asarray(spec.predictions, dtype=np.float64)
    if len(preds) != ev.n_feedback:
        raise JobError(f"{len(preds)} predictions for {ev.n_feedback} feedback inputs")
    weak, ceiling, _, _ = ev.baseline_matrices(ev.seeds, lambda f, d: report(0.9 * f, d))
    report(0.95, "scoring")
    return [
        score(
            "feedback",
            ev.feedback_labels,
            weak,
            ceiling,
            preds[None, :],
            extra={"share_of_ones": float(preds.mean())},
            subsets=ev.feedback_subsets,
        )
    ]


async def run_method_job(ev: Evaluation, spec: MethodJob, report: Report) -> list[Scored]:
    verified = await _verified(ev, spec, report)
    return [verified.scored]


async def run_transfer_job(home: Evaluation, spec: TransferJob, report: Report) -> list[Scored]:
    """The method on a transfer target, verified as on the home task (its own baselines, a fresh sandbox, the
    canary and the ceiling check), scored on the target's feedback split with a paired CI against vanilla there."""
    from evaluator.compute.prepare import build_bundle
    from evaluator.daemon.stats import correct, pgr
    from evaluator.daemon.submissions import is_majority

    ev = home.for_target(spec.target)
    report(0.0, f"{spec.target}: preparing its bundle")
    await asyncio.to_thread(build_bundle, ev.files, ev.config, ev.device)
    verified = await _verified(ev, spec, report)
    # Vanilla's PGR on the target, the point alone (its paired CI against the method is ``vs_vanilla``).
    acc = [float(correct(m, ev.feedback_labels).mean()) for m in (verified.vanilla, verified.weak, verified.ceiling)]
    extra = {"target": spec.target, "task_key": ev.task.key, "target_seeds": ev.seeds, "vanilla_pgr": pgr(*acc)}
    scored = verified.scored
    # The output check the home task's watcher makes on a method (``output_flags``) that holds on a target too:
    # probes and duplicates are of the agent's own earlier files on the home task, and were judged there.
    majority = ["majority"] if is_majority((verified.transfer > 0.5).astype(int).tolist()) else []
    update = {"split": "transfer", "metrics": {**scored.metrics, **extra}, "flags": [*scored.flags, *majority]}
    return [scored.model_copy(update=update)]


@dataclass(frozen=True)
class Verified:
    """A method verified on one task: its score, and the per-seed predictions it was read against."""

    scored: Scored
    weak: np.ndarray
    ceiling: np.ndarray
    vanilla: np.ndarray
    transfer: np.ndarray


async def _verified(ev: Evaluation, spec: MethodJob | TransferJob, report: Report) -> Verified:
    """The method over ``ev``'s seeds in fresh sandboxes (scored and canary), with every check a verified
    method gets, scored on ``ev``'s feedback split."""
    from evaluator.daemon.canary import canary_flags, ceiling_flags
    from evaluator.daemon.stats import correct, difference_ci
    from evaluator.daemon.verify import verify_method

    seeds = ev.seeds if spec.seeds is None else spec.seeds
    weak, ceiling, vanilla, rows = await asyncio.to_thread(
        ev.baseline_matrices, seeds, lambda f, d: report(0.2 * f, f"baselines: {d}")
    )
    runs, canaries = await verify_method(ev, spec, seeds, lambda f, d: report(0.2 + 0.78 * f, d))
    flags, canary_metrics = canary_flags(runs, canaries)
    beyond, ceiling_metrics = ceiling_flags(runs, [r.ceiling for r in rows])
    flags += beyond
    canary_metrics |= ceiling_metrics
    n = ev.n_feedback
    transfer = np.array([r["feedback"] for r in runs])
    if transfer.shape != (len(seeds), n):
        raise JobError(f"the method's predictions have shape {transfer.shape}, expected {(len(seeds), n)}")
    labels = ev.feedback_labels
    diff = difference_ci(
        correct(weak, labels), correct(ceiling, labels), correct(transfer, labels), correct(vanilla, labels)
    )
    extra = {
        "method": spec.filename,
        "vs_vanilla": None if diff is None else {"diff": diff[0], "ci_low": diff[1], "ci_high": diff[2]},
        "sandbox": runs[0].get("sandbox", "") if runs else "",
        "per_seed": [
            {"seed": s, "acc_transfer": a, "seconds": r.get("seconds")}
            for s, a, r in zip(seeds, per_seed_accuracy(transfer, labels), runs, strict=False)
        ],
        **canary_metrics,
    }
    scored = score("seeds", labels, weak, ceiling, transfer, extra=extra, subsets=ev.feedback_subsets)
    return Verified(scored.model_copy(update={"flags": scored.flags + flags}), weak, ceiling, vanilla, transfer)


def summary(results: list[Scored]) -> str:
    return "; ".join(describe(r) for r in results)
