"""Method verification: re-run a submitted method over fixed seeds in a fresh sandbox.

The sandbox is new for every submission and holds only a copy of the public
bundle, with the weak labels the method is scored on, and the method file;
a second fresh sandbox runs the canary (``evaluator.daemon.canary``) the same way. Its workspace sits under ``runs/<id>/workspaces/`` like
an agent's, because that is the layout the sandbox backends know to hide
the rest of the run from (``run.db``, ``evaluator/``, other workspaces),
even when the run lives inside a folder the sandbox must read, such as
the aar checkout. It writes
predictions; the worker reads them back and scores them outside. The final
predictions are kept under ``evaluator/daemon/verify/<submission>/`` for
``aar report --final``, and never scored here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aar.removal import remove_path
from evaluator.compute.pipeline import CANARY, EVAL
from evaluator.daemon.job_specs import JobError, MethodJob, TransferJob
from evaluator.daemon.jobs import Report

if TYPE_CHECKING:
    from evaluator.daemon.bundle import WeakLabels
    from evaluator.daemon.jobs import Evaluation

TAIL_LINES = 6
TAIL_CHARS = 400
LABEL_RUN = re.compile(r"(?:[01](?:\W{0,3}|$)){16,}")
"""Sixteen or more 0/1 values in a row, whatever separates them."""
PREDICTIONS_HEADROOM = 1 << 20
"""Bytes of a predictions file beyond its numbers (keys, the training figures)."""
BYTES_PER_PREDICTION = 64
"""Room for one probability in JSON (``repr`` of a float is at most 24 characters, plus a separator)."""
PREDICTIONS = "preds-{seed}.json"
"""Where ``run_method`` writes each seed's predictions in the verification sandbox."""
KILLED_CODES = frozenset({137, -9})
"""How a command killed by SIGKILL exits (through a shell, or as the sandbox reports the signal)."""


class KilledFromOutside(RuntimeError):
    """The method's process was killed by SIGKILL, not by the sandbox's limits (no timeout, not OOM-killed):
    a fault of the machine (a killed sandbox, an operator's kill), so the job is retried, not failed (a
    method that kills itself this way is retried as any attempt that raised: once on a local worker,
    ``ray.max_retries`` times on a Ray cluster; then it fails as any job that keeps failing)."""


SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\.py$")


def failure_tail(output: str) -> str:
    """What an agent gets back of a failed run: the method's own output, its last lines cut to
    ``TAIL_CHARS``, with long runs of 0/1 values redacted (a label list smuggled out, where a
    waived isolation let the method read one)."""
    tail = " | ".join(output.strip().splitlines()[-TAIL_LINES:])[-TAIL_CHARS:]
    return LABEL_RUN.sub("[0/1 run redacted]", tail)


def method_filename(name: str) -> str:
    """The agent's file name where it is a safe one, else ``method.py``."""
    return name if SAFE_NAME.match(name) else "method.py"


async def verify_method(
    ev: Evaluation, spec: MethodJob | TransferJob, seeds: list[int], report: Report
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-seed predictions of the method (``feedback`` and ``final`` lists of P(y=1)) with the
    weak labels it is scored on, and on the canary; which of the two runs first is drawn in secret."""
    submission = spec.submission_id
    scored_labels = await asyncio.to_thread(ev.weak_labels, EVAL, seeds)
    canary_labels = await asyncio.to_thread(ev.weak_labels, CANARY, seeds)
    halves = {EVAL: scored_labels, CANARY: canary_labels}
    order = [EVAL, CANARY] if secrets.randbits(1) else [CANARY, EVAL]
    outputs: dict[str, list[dict[str, Any]]] = {}
    for i, role in enumerate(order):

        def half(f: float, d: str, i: int = i) -> None:
            report((i + f) / 2, d)

        outputs[role] = await _in_fresh_sandbox(ev, spec, seeds, halves[role], half)
    out_dir = ev.files.verify(submission)
    out_dir.mkdir(parents=True, exist_ok=True)
    for seed, run in zip(seeds, outputs[EVAL], strict=False):
        (out_dir / f"seed{seed}.json").write_text(json.dumps(run))
    return outputs[EVAL], outputs[CANARY]


async def _in_fresh_sandbox(
    ev: Evaluation, spec: MethodJob | TransferJob, seeds: list[int], weak: dict[int, WeakLabels], report: Report
) -> list[dict[str, Any]]:
    """The method over ``seeds`` in a new sandbox whose bundle holds ``weak`` as its weak labels.

    Scored runs and canary runs are set up alike, down to the sandbox's name and the progress
    lines, so nothing a method can read tells them apart.
    """
    from evaluator.daemon.bundle import stage_bundle
    from sandbox.factory import create_sandbox

    filename = method_filename(spec.filename)
    name = f"verify-{spec.submission_id}-{secrets.token_hex(4)}"
    ev.paths.workspaces.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=ev.paths.workspaces))
    try:
        stage_bundle(ev.files.bundle, workdir / "task", weak)
        (workdir / filename).write_text(spec.source)
        workdir.chmod(0o777)  # the sandbox may run as another (non-root) user who writes predictions here
        sandbox = create_sandbox(ev.sandbox_config, name=name, workspace=workdir)
        sandbox.trace_opens = False  # nothing reads a verification's failed opens, and strace slows Python's start
        await sandbox.start()
        try:
            report(0.0, f"seeds {seeds}: running {filename} in a fresh {sandbox.backend} sandbox ({sandbox.isolation})")
            where = f"{sandbox.backend} ({sandbox.isolation})"
            runs = [{**run, "sandbox": where} for run in await _run_seeds(sandbox, filename, seeds, ev)]
        finally:
            await sandbox.stop()
        return runs
    finally:
        with contextlib.suppress(OSError):  # the method's own folders, nested as deep as it liked
            remove_path(workdir)


def run_method_argv(filename: str, seeds: list[int], device: str, threads: int = 0) -> list[str]:
    """The one process that runs a method over ``seeds`` (``python -m evaluator.compute.run_method``), each
    seed's predictions written to ``PREDICTIONS`` as soon as it is done: Python and torch start once, not per seed."""
    argv = ["python", "-m", "evaluator.compute.run_method", filename, "--bundle", "task"]
    for seed in seeds:
        argv += ["--seed", str(seed)]
    return [*argv, "--out", PREDICTIONS, "--device", device, *(["--threads", str(threads)] if threads else [])]


async def _run_seeds(sandbox: Any, filename: str, seeds: list[int], ev: Evaluation) -> list[dict[str, Any]]:
    """The method over ``seeds`` in one process, bounded in time by the exec limit per seed (never past the
    job's own), then each seed's predictions read back and checked (``_read_seed``)."""
    limit = min(ev.config.sandbox.exec_timeout_s * len(seeds), ev.config.evaluator.job_timeout_s)
    result = await sandbox.exec(run_method_argv(filename, seeds, ev.method_device, ev.threads), timeout=limit)
    if not result.ok:
        seed = await _failed_seed(sandbox, seeds, ev)
        if not result.timed_out and not result.oom_killed and result.exit_code in KILLED_CODES:
            raise KilledFromOutside(f"seed {seed}: the method's process was killed (SIGKILL) from outside its limits")
        why = "timed out" if result.timed_out else f"exited with {result.exit_code}"
        raise JobError(f"seed {seed}: the method {why}: {failure_tail(result.stderr or result.stdout)}")
    return [await _read_seed(sandbox, seed, ev) for seed in seeds]


def _expected(ev: Evaluation) -> tuple[int, int]:
    """How many ``feedback`` and ``final`` predictions a seed's file holds."""
    return ev.n_feedback, len(ev.data["final"])


def _size_limit(ev: Evaluation) -> int:
    """The most bytes a seed's predictions file can honestly take."""
    return PREDICTIONS_HEADROOM + BYTES_PER_PREDICTION * sum(_expected(ev))


async def _failed_seed(sandbox: Any, seeds: list[int], ev: Evaluation) -> int:
    """The seed a failed run was on: the first whose predictions cannot be read (the earlier ones were
    written as they finished). Bounded reads of the expected names, never a listing: the method may have
    left a million files."""
    from sandbox.base import SandboxError

    for seed in seeds:
        try:
            await sandbox.read_file(PREDICTIONS.format(seed=seed), limit=_size_limit(ev))
        except (OSError, SandboxError):
            return seed
    return seeds[-1]


async def _read_seed(sandbox: Any, seed: int, ev: Evaluation) -> dict[str, Any]:
    """One seed's predictions, read in memory bounded by the size they can honestly take; a FIFO, a link or a
    huge file left as the output is refused in one line at once, never waited on."""
    from sandbox.base import SandboxError

    out = PREDICTIONS.format(seed=seed)
    expected = _expected(ev)
    try:
        data = json.loads(await sandbox.read_file(out, limit=_size_limit(ev)))
    except (ValueError, OSError, SandboxError) as exc:
        raise JobError(f"seed {seed}: the method wrote no readable {out}: {exc}") from None
    if not isinstance(data, dict):
        raise JobError(f"seed {seed}: {out} must hold a JSON object with feedback and final lists")
    got = (len(data.get("feedback", [])), len(data.get("final", [])))
    if got != expected:
        raise JobError(
            f"seed {seed}: {got[0]} feedback and {got[1]} final predictions, expected {expected[0]} and {expected[1]}"
        )
    if isinstance(data.get("training"), dict):
        from evaluator.compute.hf.metrics import METER

        # The sandbox's training counts toward this job's throughput (a figure for the supervisor, not a score).
        with contextlib.suppress(ValueError):
            METER.merge(data["training"])
    values = [float(v) for v in data["feedback"] + data["final"]]
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise JobError(f"seed {seed}: predictions must lie in [0, 1]")
    return {"seed": seed, "feedback": data["feedback"], "final": data["final"], "seconds": data.get("seconds")}
