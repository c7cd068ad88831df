"""Method verification: re-run a submitted method over fixed seeds in a fresh sandbox.

The sandbox is new for every submission and holds only the public bundle
and the method file. Its workspace sits under ``runs/<id>/workspaces/`` like
an agent's, because that is the layout the sandbox backends know to hide
the rest of the run from (``run.db``, ``evaluator/``, other workspaces),
even when the run lives inside a folder the sandbox must read, such as
the aar checkout. It writes
predictions; the worker reads them back and scores them outside. The final
predictions are kept under ``evaluator/verify/<submission>/`` for
``aar report --final``, and never scored here.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluator.jobs import JobError, Report

if TYPE_CHECKING:
    from evaluator.jobs import Evaluation

SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\.py$")


def method_filename(spec: dict[str, Any]) -> str:
    name = str(spec.get("filename") or "method.py")
    return name if SAFE_NAME.match(name) else "method.py"


async def verify_method(ev: Evaluation, spec: dict[str, Any], seeds: list[int], report: Report) -> list[dict[str, Any]]:
    """Per-seed predictions of the method (``feedback`` and ``final`` lists of P(y=1))."""
    from sandbox.factory import create_sandbox

    submission = int(spec["submission_id"])
    filename = method_filename(spec)
    ev.paths.workspaces.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".verify-{submission}-", dir=ev.paths.workspaces))
    out_dir = ev.files.verify(submission)
    try:
        shutil.copytree(ev.files.bundle, workdir / "task")
        (workdir / filename).write_text(str(spec["source"]))
        workdir.chmod(0o777)  # the sandbox may run as another (non-root) user who writes predictions here
        sandbox = create_sandbox(ev.config.sandbox, name=f"verify-{submission}", workspace=workdir)
        await sandbox.start()
        try:
            runs = []
            for i, seed in enumerate(seeds):
                report(
                    i / len(seeds),
                    f"seed {seed}: running {filename} in a fresh {sandbox.backend} sandbox ({sandbox.isolation})",
                )
                run = await _run_seed(sandbox, filename, seed, ev)
                runs.append({**run, "sandbox": f"{sandbox.backend} ({sandbox.isolation})"})
        finally:
            await sandbox.stop()
        out_dir.mkdir(parents=True, exist_ok=True)
        for seed, run in zip(seeds, runs, strict=False):
            (out_dir / f"seed{seed}.json").write_text(json.dumps(run))
        return runs
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _run_seed(sandbox: Any, filename: str, seed: int, ev: Evaluation) -> dict[str, Any]:
    out = f"preds-{seed}.json"
    device = "auto" if ev.config.sandbox.gpus != "none" else "cpu"
    result = await sandbox.exec(
        [
            "python",
            "-m",
            "evaluator.run_method",
            filename,
            "--bundle",
            "task",
            "--seed",
            str(seed),
            "--out",
            out,
            "--device",
            device,
        ],
        timeout=ev.config.sandbox.exec_timeout_s,
    )
    if not result.ok:
        why = "timed out" if result.timed_out else f"exited with {result.exit_code}"
        tail = (result.stderr or result.stdout).strip().splitlines()[-6:]
        raise JobError(f"seed {seed}: the method {why}: " + " | ".join(tail)[-800:])
    try:
        data = json.loads(await sandbox.read_file(out))
    except (ValueError, OSError) as exc:
        raise JobError(f"seed {seed}: the method wrote no readable {out}: {exc}") from None
    expected = (ev.n_feedback, len(ev.data["final"]))
    got = (len(data.get("feedback", [])), len(data.get("final", [])))
    if got != expected:
        raise JobError(
            f"seed {seed}: {got[0]} feedback and {got[1]} final predictions, expected {expected[0]} and {expected[1]}"
        )
    if isinstance(data.get("training"), dict):
        from evaluator.hf.metrics import METER

        # The sandbox's training counts toward this job's throughput (a figure for the supervisor, not a score).
        with contextlib.suppress(ValueError):
            METER.merge(data["training"])
    values = [float(v) for v in data["feedback"] + data["final"]]
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise JobError(f"seed {seed}: predictions must lie in [0, 1]")
    return {"seed": seed, "feedback": data["feedback"], "final": data["final"], "seconds": data.get("seconds")}
