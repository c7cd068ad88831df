"""Submissions, evaluator jobs and their results, and the leaderboard built from them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aar.eval_jobs import JobStats
from aar.store.connection import Connection, dumps
from aar.store.rows import TRANSFER_SPLIT, JobRow, LeaderboardRow, ReferenceRow, ResultRow, SubmissionRow, decode

CHARGE = "device_s = device_s + CASE WHEN status = 'running' AND claimed_ts IS NOT NULL THEN MAX(0, ? - claimed_ts) ELSE 0 END"
"""SQL that adds the running attempt's device-seconds (the ``?`` is now): put in the UPDATE that ends it."""


def next_in_turn(queued: list[tuple[int, str | None]], served: dict[str, float]) -> int:
    """The fair queue's pick among ``(job id, agent)`` in id order, given when each agent was last served."""
    for job_id, agent in queued:
        if agent is None:
            return job_id
    first: dict[str, int] = {}
    for job_id, agent in queued:
        first.setdefault(str(agent), job_id)
    agent = min(first, key=lambda a: (served.get(a, float("-inf")), first[a]))
    return first[agent]


_ANNOUNCED = (
    " AND {job} IN (SELECT json_extract(payload, '$.job_id') FROM events"
    " WHERE kind = 'eval.result' AND id <= ? AND json_valid(payload))"
)
"""A result as of an event: its job's ``eval.result`` events came at or before it. The worker writes a result
before the daemon announces it (up to a poll later), and a replay shows the log's account of the run."""


def _announced(job: str, upto_event: int | None) -> tuple[str, tuple[int, ...]]:
    """The clause (and its argument) that keeps the results announced by ``upto_event``; none when None."""
    return ("", ()) if upto_event is None else (_ANNOUNCED.format(job=job), (upto_event,))


class EvaluationTables(Connection):
    async def add_submission(
        self, agent: str, kind: str, payload: dict[str, Any], *, flags: Sequence[str] = (), label: str = ""
    ) -> int:
        """``label`` says what was submitted (the file's name); it is shown next to the scores."""
        return await self._insert(
            "INSERT INTO submissions (ts, agent, kind, payload, flags, label) VALUES (?, ?, ?, ?, ?, ?)",
            (self.clock.time(), agent, kind, dumps(payload), dumps(list(flags)), label),
        )

    async def update_submission(
        self,
        submission_id: int,
        *,
        status: str | None = None,
        flags: Sequence[str] | None = None,
        error: str | None = None,
        links: Sequence[str] | None = None,
    ) -> None:
        fields = {
            k: v
            for k, v in (
                ("status", status),
                ("flags", None if flags is None else dumps(list(flags))),
                ("error", error),
                ("links", None if links is None else dumps(list(links))),
            )
            if v is not None
        }
        if fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            await self._write(f"UPDATE submissions SET {sets} WHERE id = ?", (*fields.values(), submission_id))

    async def submissions(self, *, agent: str | None = None, kind: str | None = None) -> list[SubmissionRow]:
        where, args = ["1"], []
        for column, value in (("agent", agent), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        rows = await self._fetch(f"SELECT * FROM submissions WHERE {' AND '.join(where)} ORDER BY id", args)
        return [SubmissionRow(**decode(r)) for r in rows]

    async def submission(self, submission_id: int) -> SubmissionRow | None:
        row = await self._fetchone("SELECT * FROM submissions WHERE id = ?", (submission_id,))
        return SubmissionRow(**decode(row)) if row else None

    # ------------------------------------------------------------ eval jobs and results

    async def enqueue_job(
        self, kind: str, spec: dict[str, Any], *, submission_id: int | None = None, status: str = "queued"
    ) -> int:
        """Add a job; ``status="done"`` records work done outside the worker (``aar report --final``)."""
        now = self.clock.time()
        return await self._insert(
            "INSERT INTO eval_jobs (ts, kind, submission_id, spec, status, updated_ts) VALUES (?, ?, ?, ?, ?, ?)",
            (now, kind, submission_id, dumps(spec), status, now),
        )

    async def claim_job(self, worker: str, *, device: str = "", max_attempts: int = 2) -> JobRow | None:
        """Atomically take the next queued job (status -> running, attempts + 1) for ``device``.

        The queue is fair: jobs of no agent (baselines) first, then round-robin over agents,
        serving the agent whose latest job started longest ago, oldest job first.
        """
        now = self.clock.time()
        async with self._transaction():
            async with self._db.execute(
                "SELECT j.id, s.agent FROM eval_jobs j LEFT JOIN submissions s ON s.id = j.submission_id"
                " WHERE j.status = 'queued' AND j.attempts < ? ORDER BY j.id",
                (max_attempts,),
            ) as cur:
                queued = [(int(r[0]), r[1]) for r in await cur.fetchall()]
            if not queued:
                return None
            async with self._db.execute(
                "SELECT s.agent, MAX(j.claimed_ts) FROM eval_jobs j JOIN submissions s ON s.id = j.submission_id"
                " WHERE j.claimed_ts IS NOT NULL GROUP BY s.agent"
            ) as cur:
                served = {r[0]: float(r[1]) for r in await cur.fetchall()}
            job_id = next_in_turn(queued, served)
            await self._db.execute(
                "UPDATE eval_jobs SET status = 'running', attempts = attempts + 1, worker = ?, device = ?,"
                " progress = 0, claimed_ts = ?, updated_ts = ? WHERE id = ?",
                (worker, device, now, now, job_id),
            )
        return await self.job(job_id)

    async def update_job(self, job_id: int, **fields: Any) -> None:
        """Set job columns (status, progress, detail, error, worker, device, attempts, stats: a ``JobStats``).

        A status that ends a running attempt charges the device time since it was claimed.
        """
        allowed = {"status", "progress", "detail", "error", "worker", "device", "attempts", "stats"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown job fields: {sorted(unknown)}")
        if "stats" in fields:
            stats: JobStats = fields["stats"]
            fields["stats"] = stats.model_dump_json()
        now = self.clock.time()
        fields["updated_ts"] = now
        sets = ", ".join(f"{k} = ?" for k in fields)
        args: tuple[Any, ...] = (*fields.values(),)
        if fields.get("status", "running") != "running":
            sets = f"{CHARGE}, {sets}"
            args = (now, *args)
        await self._write(f"UPDATE eval_jobs SET {sets} WHERE id = ?", (*args, job_id))

    async def requeue_running(self, *, worker: str | None = None) -> list[int]:
        """Jobs left ``running`` by a dead worker go back to the queue; returns their ids."""
        where, args = "status = 'running'", []
        if worker is not None:
            where += " AND worker = ?"
            args.append(worker)
        rows = await self._fetch(f"SELECT id FROM eval_jobs WHERE {where}", args)
        ids = [r[0] for r in rows]
        if ids:
            now = self.clock.time()
            await self._write(
                f"UPDATE eval_jobs SET {CHARGE}, status = 'queued', updated_ts = ? WHERE {where}", (now, now, *args)
            )
        return ids

    async def device_time(self) -> list[dict[str, Any]]:
        """Device-seconds per agent (None: the evaluator's own baselines) and device, with job counts."""
        rows = await self._fetch(
            "SELECT s.agent, j.device, COUNT(*) AS jobs, SUM(j.device_s) AS seconds FROM eval_jobs j"
            " LEFT JOIN submissions s ON s.id = j.submission_id WHERE j.device_s > 0"
            " GROUP BY s.agent, j.device ORDER BY s.agent IS NOT NULL, s.agent, j.device"
        )
        return [{"agent": r[0], "device": r[1], "jobs": int(r[2]), "seconds": float(r[3])} for r in rows]

    async def job(self, job_id: int) -> JobRow | None:
        row = await self._fetchone("SELECT * FROM eval_jobs WHERE id = ?", (job_id,))
        return JobRow(**decode(row)) if row else None

    async def jobs(self, *, status: str | None = None, limit: int = 500) -> list[JobRow]:
        if status is None:
            rows = await self._fetch("SELECT * FROM eval_jobs ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = await self._fetch(
                "SELECT * FROM eval_jobs WHERE status = ? ORDER BY id DESC LIMIT ?", (status, limit)
            )
        return [JobRow(**decode(r)) for r in rows]

    async def job_counts(self) -> dict[str, int]:
        """Jobs per status (what a status bar shows as the evaluator's queue)."""
        rows = await self._fetch("SELECT status, COUNT(*) FROM eval_jobs GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}

    async def add_result(
        self,
        job_id: int,
        *,
        submission_id: int | None,
        split: str,
        pgr: float | None,
        ci_low: float | None,
        ci_high: float | None,
        metrics: dict[str, Any],
        flags: Sequence[str] = (),
    ) -> int:
        return await self._insert(
            "INSERT INTO eval_results (ts, job_id, submission_id, split, pgr, ci_low, ci_high, metrics, flags)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.clock.time(), job_id, submission_id, split, pgr, ci_low, ci_high, dumps(metrics), dumps(list(flags))),
        )

    async def results(
        self,
        *,
        submission_id: int | None = None,
        split: str | None = None,
        include_transfer: bool = False,
        submission_ids: Sequence[int] | None = None,
    ) -> list[ResultRow]:
        """Scores, oldest first; a transfer target's (split ``transfer``) only when asked for by split or by
        ``include_transfer``: what agents, claims and the leaderboard read is the home task's. With
        ``submission_ids``, only those submissions' (the review desk's few candidates of many)."""
        where, args = ["1"], []
        for column, value in (("submission_id", submission_id), ("split", split)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if submission_ids is not None:
            where.append(f"submission_id IN ({','.join('?' * len(submission_ids))})")
            args.extend(submission_ids)
        if split is None and not include_transfer:
            where.append(f"split != '{TRANSFER_SPLIT}'")
        rows = await self._fetch(f"SELECT * FROM eval_results WHERE {' AND '.join(where)} ORDER BY id", args)
        return [ResultRow(**decode(r)) for r in rows]

    async def references(self, *, include_final: bool = False, upto_event: int | None = None) -> list[ReferenceRow]:
        """The newest score of each baseline the evaluator ran itself (no submission), per split; with
        ``upto_event``, as of that event (``_ANNOUNCED``)."""
        splits = "" if include_final else "AND split != 'final'"
        then, args = _announced("job_id", upto_event)
        rows = await self._fetch(
            "SELECT id AS result_id, json_extract(metrics, '$.baseline') AS baseline, pgr, ci_low, ci_high, split, ts"
            " FROM eval_results WHERE id IN (SELECT MAX(id) FROM eval_results WHERE submission_id IS NULL"
            f" AND json_extract(metrics, '$.baseline') IS NOT NULL {splits}{then}"
            " GROUP BY json_extract(metrics, '$.baseline'), split) ORDER BY pgr IS NULL, pgr DESC, id",
            args,
        )
        return [ReferenceRow(**dict(r)) for r in rows]

    async def method_scores(self, split: str) -> list[tuple[int, float, float | None]]:
        """``(submission_id, pgr, ci_low)`` of every scored method's result on ``split``, read without their
        metrics (what ranks the best methods)."""
        rows = await self._fetch(
            "SELECT r.submission_id, r.pgr, r.ci_low FROM eval_results r JOIN submissions s ON s.id = r.submission_id"
            " WHERE s.kind = 'method' AND r.split = ? AND r.pgr IS NOT NULL",
            (split,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def leaderboard(self, *, include_final: bool = False, upto_event: int | None = None) -> list[LeaderboardRow]:
        """Every scored submission, best PGR first; flags are the submission's and the result's. With
        ``upto_event``, the leaderboard as of that event: the results announced by then (``_ANNOUNCED``)."""
        splits = f"AND r.split != '{TRANSFER_SPLIT}'" + ("" if include_final else " AND r.split != 'final'")
        then, args = _announced("r.job_id", upto_event)
        rows = await self._fetch(
            "SELECT r.id AS result_id, s.agent, s.id AS submission_id, s.kind, s.label, r.pgr, r.ci_low, r.ci_high, r.flags AS rflags,"
            " s.flags AS sflags, s.links, r.split, r.ts FROM eval_results r JOIN submissions s ON s.id = r.submission_id"
            f" WHERE 1 {splits}{then} ORDER BY r.pgr IS NULL, r.pgr DESC, r.id",
            args,
        )
        out = []
        for r in rows:
            flags = list(dict.fromkeys(json.loads(r["sflags"]) + json.loads(r["rflags"])))
            out.append(
                LeaderboardRow(
                    result_id=r["result_id"],
                    agent=r["agent"],
                    submission_id=r["submission_id"],
                    kind=r["kind"],
                    label=r["label"],
                    pgr=r["pgr"],
                    ci_low=r["ci_low"],
                    ci_high=r["ci_high"],
                    flags=flags,
                    split=r["split"],
                    ts=r["ts"],
                    links=json.loads(r["links"]),
                )
            )
        return out
