"""Alerts off the box: inbox items reach the supervisor wherever they are, through ``[[notify]]`` entries.

The daemon's notify task follows the inbox table (a cursor per entry in ``meta``, so a restart neither
resends nor skips). For each entry it keeps the new items that pass its filter (kinds, ``min_rank``) and
sends them as one JSON batch, at most one send per item kind every ``every_s`` seconds: a flood of items
becomes a few sends. A send runs in a thread beside the daemon's loop (a command with the batch on stdin,
or a JSON POST), is retried with a doubling backoff, and each send and each failure is an event
(``notify.sent``, ``notify.failed``; neither raises an inbox item, so a broken hook cannot feed itself).

What leaves the box is the item's kind, rank, agent, time, ids, and its one-line summary (escaped, cut to
``SUMMARY_CHARS``): never the API key, never held-out data, never an agent's text beyond that line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import urllib.request
from collections.abc import Callable
from typing import Any

from aar.clock import SYSTEM_CLOCK, Clock
from aar.config.notify import NotifyConfig
from aar.escape import one_line
from aar.events import NotifyFailed, NotifySent
from aar.fold import until_stopped
from aar.inbox import RANK_NAMES
from aar.store import InboxRow, RunStore

FOLLOW_INTERVAL_S = 1.0
SUMMARY_CHARS = 200
BATCH_ITEMS = 50
"""Items listed in one send; the rest are counted (``more``)."""
RANKS = {name: rank for rank, name in RANK_NAMES.items()}


def cursor_key(name: str) -> str:
    return f"notify_cursor:{name}"


def payload(run_id: str, items: list[InboxRow]) -> dict[str, Any]:
    """The JSON a notifier sends: the items' facts and their one escaped line each."""
    shown = items[:BATCH_ITEMS]
    return {
        "run": run_id,
        "items": [
            {
                "id": i.id,
                "kind": i.kind,
                "rank": RANK_NAMES[i.rank],
                "agent": i.agent,
                "ts": i.ts,
                "summary": one_line(i.summary, SUMMARY_CHARS),
                **{k: v for k, v in (("post_id", i.post_id), ("submission_id", i.submission_id)) if v is not None},
            }
            for i in shown
        ],
        "more": len(items) - len(shown),
    }


def send(config: NotifyConfig, body: dict[str, Any]) -> None:
    """One send, blocking (run it in a thread); raises on failure."""
    data = json.dumps(body).encode()
    if config.command is not None:
        done = subprocess.run(config.command, input=data, capture_output=True, timeout=config.timeout_s)
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip()[-200:]
            raise RuntimeError(f"{config.command[0]} exited {done.returncode}: {err}")
        return
    request = urllib.request.Request(
        str(config.webhook), data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=config.timeout_s) as response:
        if not 200 <= response.status < 300:
            raise RuntimeError(f"HTTP {response.status}")


class Notifier:
    """One ``[[notify]]`` entry: its cursor, its pending items by kind, and its sends in flight."""

    def __init__(
        self,
        config: NotifyConfig,
        store: RunStore,
        run_id: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        sender: Callable[[NotifyConfig, dict[str, Any]], None] = send,
    ) -> None:
        self.config = config
        self.store = store
        self.run_id = run_id
        self.clock = clock
        self.sender = sender
        self.pending: dict[str, list[InboxRow]] = {}
        self.last_sent: dict[str, float] = {}
        self.sends: set[asyncio.Task[None]] = set()
        self.cursor: int | None = None

    def wanted(self, item: InboxRow) -> bool:
        """An item this entry sends: of its kinds and rank, and never a failed send's own item (sending that
        through the hook that failed would fail again, and raise another)."""
        c = self.config
        if item.kind == "notify":
            return False
        return (not c.kinds or item.kind in c.kinds) and item.rank <= RANKS[c.min_rank]

    async def step(self) -> None:
        """Read the items raised since the cursor, then send what each kind's rate allows."""
        key = cursor_key(self.config.name)
        if self.cursor is None:
            saved = await self.store.get_meta(key)
            # A new entry starts at the inbox's end: it tells of what happens from now, not of the past.
            self.cursor = int(saved) if saved else await self.store.inbox_newest_id()
        items = await self.store.inbox_items_after(self.cursor, limit=5000)
        for item in items:
            if self.wanted(item):
                self.pending.setdefault(item.kind, []).append(item)
        if items:
            self.cursor = items[-1].id
            await self.store.set_meta(key, str(self.cursor))
        now = self.clock.monotonic()
        due = [k for k, v in self.pending.items() if v and now - self.last_sent.get(k, -1e18) >= self.config.every_s]
        if due:
            batch = [i for k in due for i in self.pending.pop(k)]
            for k in due:
                self.last_sent[k] = now
            task = asyncio.create_task(self._send(sorted(batch, key=lambda i: i.id)), name=f"notify:{self.config.name}")
            self.sends.add(task)
            task.add_done_callback(self.sends.discard)

    async def _send(self, batch: list[InboxRow]) -> None:
        body = payload(self.run_id, batch)
        kinds = sorted({i.kind for i in batch})
        for attempt in range(1, self.config.retries + 2):
            try:
                await asyncio.to_thread(self.sender, self.config, body)
            except Exception as exc:  # a hook's failure is an event; the daemon goes on
                final = attempt > self.config.retries
                error = one_line(f"{type(exc).__name__}: {exc}", 300)
                self.store.emit(
                    None,
                    NotifyFailed(
                        notifier=self.config.name, items=len(batch), error=error, attempt=attempt, final=final
                    ),
                )
                if final:
                    return
                await self.clock.sleep(2.0 ** (attempt - 1))
            else:
                self.store.emit(
                    None, NotifySent(notifier=self.config.name, items=len(batch), item_kinds=kinds, attempt=attempt)
                )
                return

    async def drain(self, timeout: float) -> None:
        """Let the sends in flight finish (within ``timeout``), then cancel what is left."""
        if self.sends:
            await asyncio.wait(set(self.sends), timeout=timeout)
        for task in list(self.sends):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def follow(
    store: RunStore,
    configs: list[NotifyConfig],
    run_id: str,
    stop: asyncio.Event,
    *,
    interval: float = FOLLOW_INTERVAL_S,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """The daemon's notify task: every ``interval``, each entry reads the new inbox items and sends what its
    rate allows, until ``stop``; sends still in flight then get a few seconds."""
    notifiers = [Notifier(c, store, run_id, clock=clock) for c in configs]

    async def step_all() -> None:
        for n in notifiers:
            await n.step()

    try:
        await until_stopped(step_all, stop, interval)
    finally:
        for n in notifiers:
            await n.drain(timeout=5.0)
