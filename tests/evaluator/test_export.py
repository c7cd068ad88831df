"""``aar export`` and ``aar eval --reproduce``: a verified method's record, and the record re-run.

The fast tests build a run folder and its store by hand (the rows the worker would have written); the slow one
verifies and transfers a method through the real worker and sandbox, exports it and reproduces it in a fresh
folder, seed for seed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aar.events import ReviewVerdict
from aar.runtime import RunPaths
from aar.store import RunStore
from aar_app.cli import main as aar_main
from evaluator.daemon.cli import main as eval_main
from evaluator.daemon.export import MANIFEST, SECRET_WARNING, Manifest, lock_record, sha256_file
from evaluator.daemon.runfiles import RunFiles
from tests.evaluator.helpers import make_run, prepared_run
from tests.support import eventually

METHOD = (
    "from evaluator.compute.methods import confidence\n\n\ndef run(ctx):\n    return confidence.run(ctx, epochs=4)\n"
)
PER_SEED = [{"seed": 0, "acc_transfer": 0.81, "seconds": 1.0}, {"seed": 1, "acc_transfer": 0.79, "seconds": 1.0}]


def _jsonl_task(root: Path) -> dict[str, object]:
    """A jsonl ``[task]`` over tiny files: enough to hash, nothing here trains."""
    data, weak, strong = root / "data", root / "weak", root / "strong"
    for folder in (data, weak, strong):
        folder.mkdir(parents=True)
    for name in ("train_label", "train_unlabel", "test"):
        (data / f"{name}.jsonl").write_text('{"text": "good day", "label": 1}\n')
    (weak / "model.safetensors").write_bytes(b"weak weights")
    (strong / "pytorch_model.bin").write_bytes(b"strong weights")
    return {"name": "jsonl", "data_dir": str(data), "weak_model": str(weak), "strong_model": str(strong)}


async def _scored_method(store: RunStore, *, source: str = METHOD) -> int:
    """A method submission with the rows a verified one has: its done job and its ``seeds`` result."""
    sid = await store.add_submission("agent-1", "method", {"filename": "m.py", "source": source}, label="m.py")
    spec = {"submission_id": sid, "filename": "m.py", "source": source}
    job = await store.enqueue_job("method", spec, submission_id=sid, status="done")
    metrics = {"acc_weak": 0.7, "acc_ceiling": 0.9, "acc_transfer": 0.8, "per_seed": PER_SEED}
    await store.add_result(job, submission_id=sid, split="seeds", pgr=0.5, ci_low=0.4, ci_high=0.6, metrics=metrics)
    await store.update_submission(sid, status="scored")
    return sid


@pytest.fixture
async def hand_run(tmp_path: Path) -> AsyncIterator[tuple[RunPaths, RunStore]]:
    """A prepared-looking jsonl run (its secret drawn) with a store, and no worker."""
    paths = make_run(tmp_path / "run", task=_jsonl_task(tmp_path / "inputs"), evaluator={"seeds": 2})
    RunFiles(paths).data_seed(create=True)
    async with await RunStore.open(paths.db, create=True) as store:
        yield paths, store


async def _export(paths: RunPaths, sid: int, *extra: str) -> int:
    """``aar export``, as from the shell (in a thread: it runs its own event loop)."""
    return await asyncio.to_thread(aar_main, ["export", str(paths.root), "--submission", str(sid), *extra])


async def test_export_writes_the_method_manifest_and_readme(
    hand_run: tuple[RunPaths, RunStore], capsys: pytest.CaptureFixture[str]
) -> None:
    paths, store = hand_run
    sid = await _scored_method(store)
    store.emit("agent-1", ReviewVerdict(submission_id=sid, verdict="reject", note="first look", by="supervisor"))
    store.emit("agent-1", ReviewVerdict(submission_id=sid, verdict="accept", note="it holds", by="supervisor"))
    await store.flush()

    assert await _export(paths, sid) == 0
    folder = paths.root / "exports" / f"sub-{sid}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(["README.md", MANIFEST, "m.py"])
    assert (folder / "m.py").read_text() == METHOD
    manifest = Manifest.model_validate_json((folder / MANIFEST).read_text())
    lock = Path(__file__).resolve().parents[2] / "requirements.lock"
    assert manifest.lock.source == "lockfile" and manifest.lock.files == {"requirements.lock": sha256_file(lock)}
    assert manifest.lock.sha256 == sha256_file(lock)
    assert manifest.home.data_seed == RunFiles(paths).data_seed()
    assert manifest.home.seeds == [0, 1] and manifest.home.task["name"] == "jsonl"
    assert [(f.role, Path(f.path).name) for f in manifest.home.files] == [
        ("data", "test.jsonl"),
        ("data", "train_label.jsonl"),
        ("data", "train_unlabel.jsonl"),
        ("weak_model", "model.safetensors"),
        ("strong_model", "pytorch_model.bin"),
    ]
    result = manifest.home.result
    assert result is not None and (result.pgr, result.ci_low, result.ci_high) == (0.5, 0.4, 0.6)
    assert [(s.seed, s.acc_transfer) for s in result.per_seed] == [(0, 0.81), (1, 0.79)]
    assert manifest.verdict is not None and (manifest.verdict["verdict"], manifest.verdict["note"]) == (
        "accept",
        "it holds",
    ), "the latest verdict stands"
    readme = (folder / "README.md").read_text()
    assert "aar eval --reproduce ." in readme and SECRET_WARNING in readme
    out = capsys.readouterr().out
    assert f"aar eval --reproduce {folder}" in out and "secret data seed" in out

    assert await _export(paths, sid) == 2, "a non-empty folder is not overwritten"
    assert "is not empty: pass --force" in capsys.readouterr().err
    assert await _export(paths, sid, "--force") == 0


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("unknown", "aar: error: no submission #99 in run run"),
        ("predictions", "aar: error: submission #{sid} is a prediction file: there is no method to export"),
        ("unverified", "aar: error: submission #{sid} is not verified (queued): export it once its method is scored"),
    ],
)
async def test_what_cannot_be_exported_is_one_line_and_writes_nothing(
    hand_run: tuple[RunPaths, RunStore], capsys: pytest.CaptureFixture[str], case: str, said: str
) -> None:
    paths, store = hand_run
    sid = 99
    if case == "predictions":
        sid = await store.add_submission("agent-1", "predictions", {"predictions": [0, 1]})
    elif case == "unverified":
        sid = await store.add_submission("agent-1", "method", {"filename": "m.py", "source": METHOD})
    assert await _export(paths, sid) == 2
    assert capsys.readouterr().err.splitlines() == [said.format(sid=sid)]
    assert not (paths.root / "exports").exists()


def test_without_a_lockfile_the_installed_distributions_are_hashed(tmp_path: Path) -> None:
    found = lock_record(tmp_path)
    assert found.source == "installed distributions" and found.files == {} and len(found.sha256) == 64
    (tmp_path / "uv.lock").write_text("version = 1\n")
    assert lock_record(tmp_path).files == {"uv.lock": sha256_file(tmp_path / "uv.lock")}


def test_an_unknown_run_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert aar_main(["export", "nope", "--submission", "1", "--runs-dir", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("aar: error: no run")


async def test_reproduce_checks_the_data_before_it_runs_anything(
    hand_run: tuple[RunPaths, RunStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths, store = hand_run
    sid = await _scored_method(store)
    out = tmp_path / "record"
    assert await _export(paths, sid, "--out", str(out)) == 0
    capsys.readouterr()
    test_file = tmp_path / "inputs" / "data" / "test.jsonl"
    test_file.write_bytes(test_file.read_bytes().replace(b"1}", b"0}"))
    assert eval_main(["--reproduce", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["error: data changed: sha256 differs for test.jsonl"]
    assert captured.out == ""

    (out / MANIFEST).unlink()
    assert eval_main(["--reproduce", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {out} has no {MANIFEST}: not an `aar export` folder"]


async def test_reproduce_refuses_an_edited_method(
    hand_run: tuple[RunPaths, RunStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths, store = hand_run
    sid = await _scored_method(store)
    assert await _export(paths, sid, "--out", str(tmp_path / "record")) == 0
    capsys.readouterr()
    (tmp_path / "record" / "m.py").write_text(METHOD + "# tuned\n")
    assert eval_main(["--reproduce", str(tmp_path / "record")]) == 2
    assert capsys.readouterr().err.splitlines() == ["error: method changed: sha256 differs for m.py"]


# ---------------------------------------------------------------- the real thing

TARGET = {"name": "classic", "task": {"name": "toy", "variant": "classic", "size": 600}, "seeds": 2}


async def _settled(store: RunStore, job_id: int) -> None:
    async def done() -> bool:
        job = await store.job(job_id)
        return job is not None and job.status in ("done", "failed")

    await eventually(done, timeout=240, what=f"job {job_id}", interval=0.1)
    job = await store.job(job_id)
    assert job is not None and job.status == "done", job.error if job else None


@pytest.mark.slow  # the worker verifies and transfers a method in sandboxes; reproducing trains it all again
async def test_an_exported_method_reproduces_exactly_seed_for_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with prepared_run(
        "test-export",
        evaluator={"seeds": 2},
        task={"size": 600},
        sandbox={"backend": "local"},
        transfer={"targets": [TARGET]},
    ) as (paths, store):
        await _settled(store, await store.enqueue_job("baselines", {}))
        sid = await store.add_submission("agent-1", "method", {"filename": "m.py", "source": METHOD}, label="m.py")
        spec = {"submission_id": sid, "filename": "m.py", "source": METHOD}
        await _settled(store, await store.enqueue_job("method", spec, submission_id=sid))
        await _settled(store, await store.enqueue_job("transfer", {**spec, "target": "classic"}, submission_id=sid))
        assert await _export(paths, sid) == 0
        record = tmp_path / "record"
        shutil.copytree(paths.root / "exports" / f"sub-{sid}", record)  # the run is removed after this block
    capsys.readouterr()

    cache = ["--cache-dir", str(tmp_path / "cache")]  # the second reproduction reuses the first's baselines
    assert eval_main(["--reproduce", str(record), "--format", "json", *cache]) == 0
    report = json.loads(capsys.readouterr().out)
    manifest = Manifest.model_validate_json((record / MANIFEST).read_text())
    assert report["reproduced"] and [t["name"] for t in report["tasks"]] == ["home", "classic"]
    for task, recorded in zip(report["tasks"], [manifest.home, *manifest.targets], strict=True):
        assert recorded.result is not None and recorded.result.pgr is not None
        assert task["acc_transfer_per_seed"] == [s.acc_transfer for s in recorded.result.per_seed], task["name"]
        assert task["exact_seeds"] == [0, 1] and task["pgr"] == pytest.approx(recorded.result.pgr, abs=1e-12)

    # A record whose interval the method misses: said, with the task, and exit code 1.
    home = manifest.home.result
    assert home is not None and home.pgr is not None
    narrow = home.model_copy(update={"ci_low": home.pgr + 0.1, "ci_high": home.pgr + 0.2})
    tampered = manifest.model_copy(update={"home": manifest.home.model_copy(update={"result": narrow})})
    (record / MANIFEST).write_text(tampered.model_dump_json())
    assert eval_main(["--reproduce", str(record), *cache]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "OUTSIDE the recorded CI" in lines[1] and "within the recorded CI" in lines[2], lines
    assert all("(exact)" in line for line in lines[1:3]), lines
    assert lines[-1] == "not reproduced: outside the recorded CI on home"


JSONL_METHOD = (
    "from evaluator.compute.methods import vanilla\n\n\ndef run(ctx):\n    return vanilla.run(ctx, epochs=1)\n"
)


@pytest.mark.slow  # tiny HF models trained by the worker, in sandboxes, then again by the reproduction
async def test_a_jsonl_method_reproduces_in_a_fresh_folder_and_names_a_changed_file(
    tiny_hf: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "inputs" / "data"
    shutil.copytree(tiny_hf["data"], data)  # a copy: the file changed below is this test's own
    task = {"name": "jsonl", "data_dir": str(data), "weak_model": str(tiny_hf["weak"])}
    async with prepared_run(
        "test-export-jsonl",
        job_timeout_s=600,
        evaluator={"seeds": 2, "device": "cpu"},
        task={**task, "strong_model": str(tiny_hf["strong"])},
        training={"max_tokens_per_batch": 128},
        sandbox={"backend": "local"},
    ) as (paths, store):
        await _settled(store, await store.enqueue_job("baselines", {}))
        source = JSONL_METHOD
        sid = await store.add_submission("agent-1", "method", {"filename": "m.py", "source": source}, label="m.py")
        spec = {"submission_id": sid, "filename": "m.py", "source": source}
        await _settled(store, await store.enqueue_job("method", spec, submission_id=sid))
        assert await _export(paths, sid) == 0
        record = tmp_path / "elsewhere" / "record"
        shutil.copytree(paths.root / "exports" / f"sub-{sid}", record)  # the run is removed after this block
    capsys.readouterr()
    manifest = Manifest.model_validate_json((record / MANIFEST).read_text())
    digests = {(f.role, Path(f.path).name) for f in manifest.home.files}
    assert digests >= {
        ("data", "test.jsonl"),
        ("weak_model", "model.safetensors"),
        ("strong_model", "model.safetensors"),
    }

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    monkeypatch.chdir(fresh)  # as a colleague would, from a folder of their own, baselines trained afresh
    assert eval_main(["--reproduce", str(record), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (home,) = report["tasks"]
    assert report["reproduced"] and home["name"] == "home" and home["task"]["name"] == "jsonl", report
    assert manifest.home.result is not None
    assert home["acc_transfer_per_seed"] == [s.acc_transfer for s in manifest.home.result.per_seed]
    assert home["exact_seeds"] == [0, 1] and home["pgr"] == pytest.approx(manifest.home.result.pgr, abs=1e-12)

    with (data / "test.jsonl").open("a") as f:
        f.write('{"text": "one row more", "label": 0}\n')
    assert eval_main(["--reproduce", str(record)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["error: data changed: sha256 differs for test.jsonl"] and not captured.out
