"""Method verification: a fresh sandbox per submission, scored outside it, with no held-out label inside.

Runs the real worker and the real ``local`` sandbox backend (bubblewrap where installed).
A method that snoops for the held-out files raises if it can read any of them; a control
method pointed at a file that is readable proves the snooping works.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aar.runtime import RunPaths
from aar.store import RunStore
from evaluator.compute.prepare import prepare
from evaluator.daemon.supervisor import WorkerSupervisor
from tests.evaluator.helpers import prepared_run, settled
from tests.support import eventually

pytestmark = pytest.mark.slow  # verifies a method in a sandbox through the worker

pytest.importorskip("sandbox.factory", reason="the sandbox factory (sandbox/factory.py) has not landed yet")

SNOOP = """
import glob
from pathlib import Path
from evaluator.compute.methods import vanilla

TARGETS = {targets!r}

def run(ctx):
    here = Path.cwd()
    candidates = list(TARGETS) + [str(p / "evaluator" / "heldout" / "final.json") for p in here.parents]
    candidates += glob.glob("/tmp/**/heldout/*.json", recursive=True) + glob.glob(str(here.parent.parent / "*" / "*.json"))
    leaked = []
    for path in candidates:
        try:
            leaked.append((path, Path(path).read_text()[:20]))
        except OSError:
            pass
    if leaked:
        raise RuntimeError(f"LEAK {{leaked[:3]}}")
    return vanilla.run(ctx, epochs=3)
"""


@pytest.fixture
async def run() -> AsyncIterator[tuple[RunPaths, RunStore]]:
    async with prepared_run(
        "test-verify", evaluator={"seeds": 1}, task={"size": 1000}, sandbox={"backend": "local"}
    ) as paths_and_store:
        yield paths_and_store


async def _verify(store: RunStore, source: str) -> int:
    sid = await store.add_submission("agent-1", "method", {"filename": "snoop.py", "source": source})
    job_id = await store.enqueue_job(
        "method", {"submission_id": sid, "filename": "snoop.py", "source": source, "seeds": [0]}, submission_id=sid
    )

    async def settled() -> bool:
        job = await store.job(job_id)
        return job is not None and job.status in ("done", "failed")

    await eventually(settled, timeout=150, what="the method job", interval=0.1)
    return job_id


async def test_no_held_out_label_is_readable_from_the_method_sandbox(run: tuple[RunPaths, RunStore]) -> None:
    paths, store = run
    heldout = paths.evaluator_dir / "heldout"
    targets = [
        str(heldout / "final.json"),
        str(heldout / "feedback.json"),
        str(heldout / "train_unlabel.json"),
        str(paths.db),
    ]
    job_id = await _verify(store, SNOOP.format(targets=targets))
    job = await store.job(job_id)
    assert job is not None
    assert job.status == "done", job.error
    (result,) = [r for r in await store.results() if r.job_id == job_id]
    assert result.metrics["sandbox"].startswith("local (") and "none" not in result.metrics["sandbox"]
    assert result.split == "seeds" and result.pgr is not None and result.ci_low is not None
    assert (paths.evaluator_dir / "verify" / str(result.submission_id) / "seed0.json").exists(), (
        "final predictions kept for --final"
    )
    assert not list(paths.workspaces.iterdir()), "the verification workspace is removed afterwards"

    # The control: the same snooping, pointed at a file the sandbox may read, is caught.
    control = await _verify(store, SNOOP.format(targets=["task/task.json"]))
    job = await store.job(control)
    assert job is not None and job.status == "failed" and "LEAK" in job.error


FAILS_ON_SEED_1 = """
from evaluator.compute.methods import vanilla

def run(ctx):
    if ctx.seed == 1:
        for i in range(20_000):  # a crowd of files beside the predictions, which the verifier never lists
            open(f"junk-{i}", "w").close()
        raise RuntimeError("no luck on seed 1")
    return vanilla.run(ctx, epochs=1)
"""


async def test_the_seed_a_method_fails_on_is_named(run: tuple[RunPaths, RunStore]) -> None:
    """The seeds run one after another in one process; the error names the first without predictions."""
    _, store = run
    sid = await store.add_submission("agent-1", "method", {"filename": "m.py", "source": FAILS_ON_SEED_1})
    spec = {"submission_id": sid, "filename": "m.py", "source": FAILS_ON_SEED_1, "seeds": [0, 1, 2]}
    job = await settled(store, await store.enqueue_job("method", spec, submission_id=sid), "the method job")
    assert job.status == "failed" and job.attempts == 1, job
    assert job.error.startswith("JobError: seed 1: the method exited with 1: "), job.error
    assert "no luck on seed 1" in job.error and "\n" not in job.error, job.error
