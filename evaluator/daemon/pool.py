"""One evaluator worker per device of the pool, each under its own supervisor.

Workers take jobs from the store's fair queue (baselines first, then round-robin
over agents), so jobs run in parallel across devices. When one worker dies,
its job goes back to the queue and the next idle worker, on another device,
takes it while the dead one restarts after its backoff.
"""

from __future__ import annotations

import asyncio

from aar.clock import SYSTEM_CLOCK, Clock
from aar.runtime import RunPaths
from aar.store import RunStore
from evaluator.daemon.supervisor import HEARTBEAT_TIMEOUT_S, Notify, WorkerSupervisor


class WorkerPool:
    def __init__(
        self,
        paths: RunPaths,
        store: RunStore,
        devices: list[str],
        *,
        job_timeout_s: float,
        notify: Notify | None = None,
        poll_s: float = 0.2,
        worker_poll_s: float = 0.05,
        heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not devices:
            raise ValueError("an evaluator pool needs at least one device")
        self.store = store
        self.supervisors = [
            WorkerSupervisor(
                paths,
                store,
                job_timeout_s=job_timeout_s,
                device=device,
                notify=notify,
                poll_s=poll_s,
                worker_poll_s=worker_poll_s,
                heartbeat_timeout_s=heartbeat_timeout_s,
                clock=clock,
            )
            for device in devices
        ]

    @property
    def devices(self) -> list[str]:
        return [s.device for s in self.supervisors]

    def supervisor(self, device: str) -> WorkerSupervisor:
        return next(s for s in self.supervisors if s.device == device)

    async def recover(self) -> None:
        """At start: whatever a previous daemon's workers left running goes back to the queue."""
        await self.supervisors[0].recover()

    async def run(self, stop: asyncio.Event) -> None:
        """Supervise every worker until ``stop`` is set; each stops its worker and requeues its job."""
        tasks = [asyncio.create_task(s.run(stop), name=f"evaluator-{s.device}") for s in self.supervisors]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a supervisor only ends early by raising
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
