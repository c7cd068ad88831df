"""A reproducible record of a verified method: ``aar export`` writes it, ``aar eval --reproduce`` re-runs it.

An export folder holds the method's source, ``manifest.json`` (:class:`Manifest`) and a README. The manifest
pins what the recorded numbers came from: aar's version, the hash of the lockfile (or of the installed
distributions), the home task's ``[task]`` table and every transfer target's, each with its seeds, its
secret data seed and, for a jsonl task, the sha256 of every data and weight file; the per-seed results
and the PGR with its CI of each; the supervisor's verdict, if one was given.

The secret data seed is what lets a toy task be regenerated, held-out labels included: an export is for
the supervisor, never for a place an agent can read. Pure Python: no torch here.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

import aar
from aar.config import JsonlTaskConfig, RunConfig, TaskConfig, TransferTarget, load_config
from aar.errors import AarError
from aar.eval_jobs import MethodJob
from aar.runtime import RunPaths
from aar.store import TRANSFER_SPLIT, ResultRow, RunStore
from evaluator.daemon.runfiles import RunFiles
from evaluator.daemon.verify import method_filename

MANIFEST = "manifest.json"
SCHEMA = 1
WEIGHT_SUFFIXES = (".safetensors", ".bin")
LOCK_PATTERNS = ("requirements*.txt", "uv.lock", "*.lock")
SECRET_WARNING = (
    "This folder holds the run's secret data seed: with it anyone can regenerate the toy task's held-out "
    "labels. Keep it where no agent can read it (never in a workspace or a sandbox)."
)


class ExportError(AarError):
    """An export or a reproduction that cannot go ahead; one line says why."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Role = Literal["data", "weak_model", "strong_model"]


class FileDigest(_Model):
    """One file a task reads, as it was when the method was exported."""

    role: Role
    """Which input it is: a data file, or a weight file of the weak or the strong checkpoint."""
    path: str
    """Its absolute path when exported (where ``--reproduce`` reads it)."""
    sha256: str


class SeedResult(_Model):
    seed: int
    acc_transfer: float
    """The method's accuracy on the scored split with this seed (rounded to 4 digits, as recorded)."""


class RecordedResult(_Model):
    """One ``eval_results`` row of the method: its PGR with the CI and its accuracies per seed."""

    result_id: int
    split: str
    """``seeds`` (the home task's feedback split), ``final``, or ``transfer`` (a target's feedback split)."""
    pgr: float | None
    ci_low: float | None
    ci_high: float | None
    acc_weak: float | None
    acc_ceiling: float | None
    acc_transfer: float | None
    per_seed: list[SeedResult]
    flags: list[str]

    @classmethod
    def of(cls, row: ResultRow) -> RecordedResult:
        m = row.metrics
        per_seed = [SeedResult(seed=int(s["seed"]), acc_transfer=float(s["acc_transfer"])) for s in _seeds_of(m)]
        return cls(
            result_id=row.id,
            split=row.split,
            pgr=row.pgr,
            ci_low=row.ci_low,
            ci_high=row.ci_high,
            acc_weak=_number(m.get("acc_weak")),
            acc_ceiling=_number(m.get("acc_ceiling")),
            acc_transfer=_number(m.get("acc_transfer")),
            per_seed=per_seed,
            flags=list(row.flags),
        )


class TaskRecord(_Model):
    """The home task or one transfer target: everything its data, baselines and weak labels derive from."""

    name: str
    """``home``, or the transfer target's name."""
    task: dict[str, Any]
    """Its ``[task]`` table."""
    seeds: list[int]
    data_seed: int | None
    """The secret data seed (``secret.json``): it draws the toy data and every weak model's subsample;
    None where the target was never prepared."""
    files: list[FileDigest] = []
    """jsonl: the data files and the checkpoints' weight files, hashed."""
    result: RecordedResult | None
    """The method's feedback score on it (``seeds`` at home, ``transfer`` on a target); None if never run."""

    def task_config(self) -> TaskConfig:
        from pydantic import TypeAdapter

        return TypeAdapter(TaskConfig).validate_python(self.task)


class LockRecord(_Model):
    source: Literal["lockfile", "installed distributions"]
    """What was hashed: the repository's lockfile(s), or, where there is none, the installed distributions
    (``name==version`` per line, sorted, as ``pip freeze`` lists them)."""
    files: dict[str, str]
    """Each lockfile's name and sha256 (none for installed distributions)."""
    sha256: str
    """The lockfile's sha256 (of the name and hash lines of all, where there are several), or of the
    distributions' list."""


class MethodRecord(_Model):
    submission_id: int
    agent: str
    file: str
    """The method's file in the export folder (the agent's name for it where that is a safe one)."""
    sha256: str


class Manifest(_Model):
    """``manifest.json`` of an export folder."""

    schema_version: int = SCHEMA
    aar_version: str
    lock: LockRecord
    run_id: str
    exported_ts: float
    device: str
    """The device the run's evaluator scored on (``cpu``, ``cuda``): a toy result is exact on the same kind."""
    training: dict[str, Any]
    """The run's ``[training]`` table (how a jsonl task trains its models)."""
    method: MethodRecord
    home: TaskRecord
    final: RecordedResult | None
    """The private split's score (``aar report --final``), if it was taken; never re-run."""
    targets: list[TaskRecord]
    verdict: dict[str, Any] | None
    """The verdict that stands on this submission (``aar review --verdict``; its latest event), if any."""
    warning: str = SECRET_WARNING


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _seeds_of(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    rows = metrics.get("per_seed")
    return (
        [r for r in rows if isinstance(r, dict) and "seed" in r and "acc_transfer" in r]
        if isinstance(rows, list)
        else []
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lock_record(repo: Path | None = None) -> LockRecord:
    """The repository's lockfile hash, or the installed distributions' where no lockfile is there."""
    repo = Path(aar.__file__).resolve().parents[1] if repo is None else repo
    locks = sorted({p for pattern in LOCK_PATTERNS for p in repo.glob(pattern) if p.is_file()})
    if locks:
        hashes = {p.name: sha256_file(p) for p in locks}
        combined = hashlib.sha256("".join(f"{n}\0{h}\n" for n, h in hashes.items()).encode()).hexdigest()
        return LockRecord(
            source="lockfile", files=hashes, sha256=next(iter(hashes.values())) if len(locks) == 1 else combined
        )
    names = sorted(
        {f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions() if d.metadata["Name"]}
    )
    return LockRecord(
        source="installed distributions", files={}, sha256=hashlib.sha256("\n".join(names).encode()).hexdigest()
    )


def task_files(config: TaskConfig) -> list[FileDigest]:
    """A jsonl task's data files and checkpoint weights, hashed; a synthetic task has none (its data is its
    config and the data seed)."""
    if not isinstance(config, JsonlTaskConfig):
        return []
    found: list[tuple[Role, Path]] = [("data", p) for p in sorted(config.data_dir.glob("*.jsonl"))]
    models: tuple[tuple[Role, Path], ...] = (("weak_model", config.weak_model), ("strong_model", config.strong_model))
    for role, folder in models:
        found += [(role, p) for p in sorted(folder.rglob("*")) if p.suffix in WEIGHT_SUFFIXES and p.is_file()]
    return [FileDigest(role=role, path=str(p.resolve()), sha256=sha256_file(p)) for role, p in found]


def _data_seed(files: RunFiles) -> int | None:
    try:
        return files.data_seed()
    except (FileNotFoundError, ValueError, KeyError):
        return None


# ---------------------------------------------------------------- export


async def build_manifest(paths: RunPaths, store: RunStore, submission_id: int) -> tuple[Manifest, str]:
    """The manifest of ``submission_id`` and its method's source; refuses, in one line, what cannot be exported."""
    config = load_config(paths.config)
    sub = await store.submission(submission_id)
    if sub is None:
        raise ExportError(f"no submission #{submission_id} in run {paths.run_id}")
    if sub.kind == "predictions":
        raise ExportError(f"submission #{submission_id} is a prediction file: there is no method to export")
    results = await store.results(submission_id=submission_id, include_transfer=True)
    seeds_rows = [r for r in results if r.split == "seeds"]
    if not seeds_rows:
        raise ExportError(
            f"submission #{submission_id} is not verified ({sub.status}): export it once its method is scored"
        )
    home_row = seeds_rows[-1]
    job = await store.job(home_row.job_id)
    spec = job.spec if job is not None and isinstance(job.spec, MethodJob) else None
    filename = spec.filename if spec else str(sub.payload.get("filename") or "method.py")
    source = spec.source if spec else str(sub.payload.get("source") or "")
    if not source:
        raise ExportError(f"submission #{submission_id} has no method source in the store")
    home_files = RunFiles(paths)
    home_seed = _data_seed(home_files)
    if home_seed is None:
        raise ExportError(f"run {paths.run_id} has no secret data seed ({home_files.root / 'secret.json'})")
    final = [r for r in results if r.split == "final"]
    transfers = {r.target: r for r in results if r.split == TRANSFER_SPLIT}
    manifest = Manifest(
        aar_version=_version(),
        lock=lock_record(),
        run_id=paths.run_id,
        exported_ts=time.time(),
        device=await _device(store),
        training=config.training.model_dump(mode="json"),
        method=MethodRecord(
            submission_id=submission_id,
            agent=sub.agent,
            file=method_filename(filename),
            sha256=hashlib.sha256(source.encode()).hexdigest(),
        ),
        home=TaskRecord(
            name="home",
            task=config.task.model_dump(mode="json"),
            seeds=[s.seed for s in RecordedResult.of(home_row).per_seed] or home_files.seeds(config),
            data_seed=home_seed,
            files=task_files(config.task),
            result=RecordedResult.of(home_row),
        ),
        final=RecordedResult.of(final[-1]) if final else None,
        targets=[_target_record(paths, config, t, transfers.get(t.name)) for t in config.transfer.targets],
        verdict=await _verdict(store, submission_id),
    )
    return manifest, source


def _target_record(paths: RunPaths, config: RunConfig, target: TransferTarget, row: ResultRow | None) -> TaskRecord:
    files = RunFiles(paths, target)
    recorded = None if row is None else RecordedResult.of(row)
    return TaskRecord(
        name=target.name,
        task=target.task.model_dump(mode="json"),
        seeds=[s.seed for s in recorded.per_seed] if recorded and recorded.per_seed else files.seeds(config),
        data_seed=_data_seed(files),
        files=task_files(target.task),
        result=recorded,
    )


def _version() -> str:
    try:
        return importlib.metadata.version("aar")
    except importlib.metadata.PackageNotFoundError:
        return aar.__version__


async def _device(store: RunStore) -> str:
    """The device of the run's latest baselines (what the method's score was read against)."""
    for row in reversed(await store.results(split="feedback")):
        if row.submission_id is None and isinstance(row.metrics.get("device"), str):
            return str(row.metrics["device"]).split(":")[0]
    return "cpu"


async def _verdict(store: RunStore, submission_id: int) -> dict[str, Any] | None:
    """The verdict that stands on the submission (its latest ``review.verdict``), with its event's id and time."""
    standing = (await store.verdicts()).get(submission_id)
    return None if standing is None else standing.model_dump(mode="json")


def default_folder(paths: RunPaths, submission_id: int) -> Path:
    return paths.root / "exports" / f"sub-{submission_id}"


def write_export(manifest: Manifest, source: str, folder: Path, *, force: bool = False) -> Path:
    """Write the folder at once (a temporary sibling renamed into place): a refusal leaves nothing written."""
    folder = folder.resolve()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not force:
        raise ExportError(f"{folder} is not empty: pass --force to replace it, or --out another folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        (tmp / manifest.method.file).write_text(source)
        (tmp / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
        (tmp / "README.md").write_text(readme(manifest))
        tmp.chmod(0o700)  # the secret data seed is in here
        if folder.exists():
            shutil.rmtree(folder) if folder.is_dir() else folder.unlink()
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def readme(manifest: Manifest) -> str:
    home = manifest.home
    lines = [
        f"# Submission #{manifest.method.submission_id} of run {manifest.run_id}: {manifest.method.file}",
        "",
        f"**{SECRET_WARNING}**",
        "",
        "Reproduce it (checks the data first, then re-runs the method on the home task's feedback split and on",
        "every transfer target with the recorded seeds, and compares each PGR with the recorded interval):",
        "",
        "    aar eval --reproduce .",
        "",
        "The method runs in this shell's Python, outside any sandbox, as `aar eval --method` does.",
        "",
        f"- aar {manifest.aar_version}; {manifest.lock.source} sha256 {manifest.lock.sha256[:16]}",
        f"- scored on {manifest.device}; a toy task reproduces exactly, seed for seed, on the same kind of device",
        "",
        "| task | seeds | recorded PGR [95% CI] |",
        "| --- | --- | --- |",
    ]
    for record in [home, *manifest.targets]:
        lines.append(f"| {record.name} ({_describe_task(record.task)}) | {record.seeds} | {_pgr_text(record.result)} |")
    if manifest.final is not None:
        lines.append(f"| final split (not re-run) | | {_pgr_text(manifest.final)} |")
    lines += ["", f"Verdict: {json.dumps(manifest.verdict) if manifest.verdict else 'none recorded'}", ""]
    return "\n".join(lines)


def _describe_task(task: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in task.items())


def _pgr_text(result: RecordedResult | None) -> str:
    if result is None:
        return "not run"
    if result.pgr is None or result.ci_low is None or result.ci_high is None:
        return "no PGR (ceiling <= weak)"
    return f"{result.pgr:.3f} [{result.ci_low:.3f}, {result.ci_high:.3f}]"


# ---------------------------------------------------------------- reading back


def read_export(folder: Path) -> tuple[Manifest, str]:
    """The manifest of an export folder and its method's source, read once; one line where either is missing
    or unreadable, or where a file it pins (the method, a data file, a weight file) has changed."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ExportError(f"{folder} has no {MANIFEST}: not an `aar export` folder")
    try:
        manifest = Manifest.model_validate_json(path.read_text())
    except (ValidationError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise ExportError(f"{path} is unreadable: {first}") from None
    if method_filename(manifest.method.file) != manifest.method.file:
        raise ExportError(f"{path}: the method's file name {manifest.method.file!r} is not a plain .py name")
    method = folder / manifest.method.file
    if not method.is_file():
        raise ExportError(f"method missing: {manifest.method.file} is not in {folder}")
    source = method.read_bytes()
    if hashlib.sha256(source).hexdigest() != manifest.method.sha256:
        raise ExportError(f"method changed: sha256 differs for {manifest.method.file}")
    for record in [manifest.home, *manifest.targets]:
        check_files(record)
    return manifest, source.decode()


def check_files(record: TaskRecord) -> None:
    for f in record.files:
        what = "data" if f.role == "data" else f"{f.role.replace('_', ' ')}"
        p = Path(f.path)
        if not p.is_file():
            raise ExportError(f"{what} missing: {p.name} ({p})")
        if sha256_file(p) != f.sha256:
            raise ExportError(f"{what} changed: sha256 differs for {p.name}")
