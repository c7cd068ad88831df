"""``aar search RUN QUERY [--agent A] [--kind K] [--json]`` and ``aar search --all QUERY``: full-text search
over every agent's thinking, tool calls, tool outputs and posts (``aar.store.search_index``).

A hit is one line: when, the run (with ``--all``), the agent, the step (or the post's id), the kind and a
snippet with the matched words in brackets. Everything in a snippet was written by an agent: it is escaped
(``aar.escape``). The transcript at a hit's step is the inspect screen of ``aar attach RUN``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from datetime import datetime
from pathlib import Path

from aar.errors import AarError
from aar.escape import one_line
from aar.runtime import RunPaths
from aar.store import RunStore
from aar.store.search_index import SearchHit, SearchQueryError


async def search_run(
    paths: RunPaths, query: str, *, agent: str | None, kind: str | None, limit: int
) -> list[SearchHit]:
    async with await RunStore.open(paths.db) as store:
        with contextlib.suppress(sqlite3.OperationalError):  # read-only, or busy: search what is indexed
            await store.catch_up_search()  # what the daemon has not folded yet, or all of a stopped run
        try:
            return await store.search(query, agent=agent, kind=kind, limit=limit)
        except SearchQueryError as exc:
            raise AarError(str(exc)) from None


def run_folders(runs_dir: Path) -> list[RunPaths]:
    """Every run under ``runs_dir``, oldest first."""
    return [RunPaths(db.parent.resolve()) for db in sorted(runs_dir.glob("*/run.db"), key=lambda p: p.stat().st_mtime)]


def render(found: list[tuple[str, SearchHit]], *, as_json: bool, with_run: bool) -> str:
    if as_json:
        return json.dumps(
            [
                {
                    "run": run,
                    "agent": h.agent,
                    "kind": h.kind,
                    "step": h.step,
                    "ref": h.ref,
                    "ts": h.ts,
                    "snippet": h.snippet,
                }
                for run, h in found
            ],
            indent=2,
        )
    if not found:
        return "no match"
    lines = []
    for run, h in found:
        when = datetime.fromtimestamp(h.ts).strftime("%m-%d %H:%M:%S")
        where = f"post #{h.ref}" if h.kind == "post" else f"step {h.step}"
        prefix = f"{one_line(run, 40)} " if with_run else ""
        lines.append(f"{when} {prefix}{one_line(h.agent, 40):<12} {where:<10} {h.kind:<9} {one_line(h.snippet, 300)}")
    return "\n".join(lines)


def main(
    runs: list[RunPaths], query: str, *, agent: str | None, kind: str | None, limit: int, as_json: bool, every: bool
) -> int:
    found: list[tuple[str, SearchHit]] = []
    for paths in runs:
        hits = asyncio.run(search_run(paths, query, agent=agent, kind=kind, limit=limit))
        found += [(paths.run_id, h) for h in hits]
    if every:
        found.sort(key=lambda rh: rh[1].ts)
    print(render(found[: limit if not every else None], as_json=as_json, with_run=every))
    return 0
