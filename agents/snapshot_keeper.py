"""When an agent's workspace is snapshotted: at its start, after each step that submits, and after a step
once ``run.snapshot_every_min`` has passed since the last snapshot.

A snapshot is taken between steps, after the step has committed, so it is the workspace as that step left
it (``aar.snapshots``: content-addressed, only changed files are read). A submission's snapshot is pinned:
pruning under ``run.snapshot_budget_mb`` keeps it. A snapshot that fails (a full disk, a workspace the agent
made unreadable) is logged and recorded as an error event; the agent goes on, and the next one is tried at
the next step.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aar import snapshots
from aar.clock import Clock
from aar.errors import AarError
from aar.events import ErrorRaised
from aar.store import RunStore

log = logging.getLogger("aar.agents.snapshots")

SUBMIT_TOOLS = frozenset({"submit_method", "submit_predictions"})
"""Tools whose successful call makes the step's snapshot one to keep."""


class SnapshotKeeper:
    def __init__(
        self,
        store: RunStore,
        root: Path,
        agent: str,
        workspace: Path,
        *,
        every_s: float,
        budget_mb: float,
        clock: Clock,
    ) -> None:
        self.store = store
        self.root = root
        self.agent = agent
        self.workspace = workspace
        self.every_s = every_s
        """Seconds between two snapshots taken for time alone; 0: only at the start and at submissions."""
        self.budget_mb = budget_mb
        self.clock = clock
        self._last: float | None = None
        """When the last snapshot was taken (this process's clock); None: none yet in this process."""

    async def start(self, step: int) -> None:
        """The first snapshot of this process: the workspace as the agent (re)starts from ``step``, unless one
        at that step is already there (a resumed agent)."""
        nearest = await self.store.nearest_snapshot(self.agent, step)
        if nearest is not None and nearest.step == step:
            self._last = self.clock.monotonic()
            return
        await self._take(step, "start", pin=False)

    async def after_step(self, step: int, *, submitted: bool) -> None:
        """Take the snapshot due after ``step``, if one is."""
        due = submitted or (
            self.every_s > 0 and (self._last is None or self.clock.monotonic() - self._last >= self.every_s)
        )
        if due:
            await self._take(step, "submission" if submitted else "timer", pin=submitted)

    async def _take(self, step: int, reason: str, *, pin: bool) -> None:
        try:
            self.workspace.mkdir(parents=True, exist_ok=True)
            row = await snapshots.take(self.store, self.root, self.agent, step, self.workspace, reason=reason)
            if pin:
                await self.store.pin_snapshot(row.id)
            await snapshots.prune(self.store, self.root, self.budget_mb)
        except (AarError, OSError) as exc:
            log.warning("%s: snapshot after step %d failed: %s", self.agent, step, exc)
            self.store.emit(
                self.agent,
                ErrorRaised(message=f"workspace snapshot after step {step} failed: {exc}", where="snapshots"),
            )
        finally:
            self._last = self.clock.monotonic()
