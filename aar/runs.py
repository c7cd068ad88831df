"""Finding, creating and summarising runs under the runs directory."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError

from aar.config import RunConfig, dump_config
from aar.errors import RunNotFound, RunNotWritable, StoreError
from aar.events import CLUSTER_KIND, EvalClusterChanged, RunState
from aar.lock import holder_pid
from aar.runtime import RunPaths
from aar.store import RunStore

LIVE_STATES: frozenset[RunState] = frozenset({"starting", "running", "stopping"})
_RUN_STATE: TypeAdapter[RunState] = TypeAdapter(RunState)


async def create_run(config: RunConfig) -> RunPaths:
    """Make ``runs/<name>-<timestamp>/`` with its config and an empty store."""
    runs_dir = config.run.runs_dir
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{config.run.name}-{stamp}"
    root, n = runs_dir / base, 1
    while root.exists():
        n += 1
        root = runs_dir / f"{base}-{n}"
    paths = RunPaths(root.resolve())
    paths.make()
    paths.config.write_text(dump_config(config))
    async with await RunStore.open(paths.db, create=True) as store:
        await store.set_meta("run_id", paths.run_id)
        await store.set_meta("created_ts", repr(time.time()))
        await store.set_meta("state", "created")
    return paths


def find_run(runs_dir: Path, ref: str | None) -> RunPaths:
    """A run by id, unique id prefix or folder path; the newest run when ``ref`` is None."""
    if ref is not None and (Path(ref) / "run.db").is_file():
        return RunPaths(Path(ref).resolve())
    runs = sorted((p for p in runs_dir.glob("*/run.db")), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise RunNotFound(f"no runs under {runs_dir}; start one with `aar run examples/demo.toml`")
    if ref is None:
        return RunPaths(runs[-1].parent.resolve())
    matches = [p.parent for p in runs if p.parent.name == ref] or [
        p.parent for p in runs if p.parent.name.startswith(ref)
    ]
    if not matches:
        raise RunNotFound(f"no run {ref!r} under {runs_dir}; `aar ls` lists them")
    if len(matches) > 1:
        names = ", ".join(m.name for m in matches[:5])
        raise RunNotFound(f"{ref!r} matches several runs ({names}); give more of the id")
    return RunPaths(matches[0].resolve())


class RunSummary(BaseModel):
    run: str
    path: str
    state: RunState
    """The stored state, or ``crashed`` when it says live but no daemon holds the lock."""
    daemon_pid: int | None
    agents: int
    spend_usd: float
    created_ts: float
    events: int
    cluster: EvalClusterChanged | None = None
    """The Ray cluster its evaluator jobs run on, as the daemon last saw it (a live run on ``evaluator.backend = "ray"``)."""


def observed_state(stored: str, daemon_pid: int | None) -> RunState:
    """``stored``, or ``crashed`` when it says live but no daemon holds the lock (a daemon killed by -9 never says so)."""
    try:
        state = _RUN_STATE.validate_python(stored)
    except ValidationError:
        raise StoreError(f"the store holds an unknown run state {stored!r}; was it written by a newer aar?") from None
    return "crashed" if state in LIVE_STATES and daemon_pid is None else state


def summarise(paths: RunPaths) -> RunSummary:
    """Read a run's headline figures with plain sqlite3 (read-only, never blocks the daemon)."""
    uri = f"file:{paths.db}?mode=ro"
    with sqlite3.connect(uri, uri=True, timeout=5) as db:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        agents, spend = db.execute("SELECT COUNT(*), COALESCE(SUM(cost_usd), 0) FROM agents").fetchone()
        events = db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
        seen = db.execute(
            "SELECT payload FROM events WHERE kind = ? ORDER BY id DESC LIMIT 1", (CLUSTER_KIND,)
        ).fetchone()
    pid = holder_pid(paths.lock)
    state = observed_state(meta.get("state", "created"), pid)
    return RunSummary(
        run=paths.run_id,
        path=str(paths.root),
        state=state,
        daemon_pid=pid,
        agents=agents,
        spend_usd=spend,
        created_ts=float(meta.get("created_ts", "0")),
        events=events,
        cluster=_cluster(seen[0]) if seen and state in LIVE_STATES else None,
    )


def _cluster(payload: str) -> EvalClusterChanged | None:
    try:
        return EvalClusterChanged.model_validate_json(payload)
    except ValidationError:
        return None


def list_runs(runs_dir: Path) -> list[RunSummary]:
    out = []
    for db in sorted(runs_dir.glob("*/run.db")):
        try:
            out.append(summarise(RunPaths(db.parent.resolve())))
        except sqlite3.Error:
            continue
    return sorted(out, key=lambda s: s.created_ts)


def check_resumable(paths: RunPaths) -> None:
    """Refuse, in one line and before anything is written, a run the daemon could not go on with: a run folder
    it cannot write (a read-only file system, no permission), or a store that fails ``PRAGMA integrity_check``."""
    probe = paths.root / f".aar-write-check-{os.getpid()}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as exc:
        raise RunNotWritable(
            f"{paths.root} is not writable ({exc.strerror or exc}); copy the run where it can be written "
            f"(`aar backup {paths.run_id} DEST`) and resume the copy"
        ) from None
    check_store(paths)


def check_store(paths: RunPaths) -> None:
    """``PRAGMA integrity_check`` of the run's store, read-only; a damaged store is a ``StoreError`` of one line."""
    advice = "nothing was changed; resume a backup (`aar backup`) or a copy that `sqlite3 .recover` rebuilds"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{paths.db}?mode=ro", uri=True, timeout=30)) as db:
            problems = [str(row[0]) for row in db.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.Error as exc:
        raise StoreError(f"the store {paths.db} cannot be read ({exc}); {advice}") from None
    if problems != ["ok"]:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise StoreError(f"the store {paths.db} is damaged: {problems[0]}{more}; {advice}")
