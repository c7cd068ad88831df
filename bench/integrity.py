"""Integrity benchmark: what the defences of issue 22 cost, side by side with them off.

Each section measures one defence in paired rounds (off then on, then on then off, so drift
and a neighbour's load fall on both sides alike) and prints the median of the per-round
on/off ratios: the machines are shared and noisy, so only ratios taken in one run mean anything.

Sections:
- ``file_tools``: an agent's ``write_file`` then ``read_file`` of a small file, through the real
  ``Toolbox`` and ``SandboxSlot`` over a local sandbox. On: the workspace as shipped (``aar.confined``:
  opens relative to the workspace's directory fd with no link followed, non-blocking, ``fstat``,
  bounded read). Off: the same calls served by a plain ``open(root / path)``. Target <= 1.1.
- ``canary``: the canary's cost per seed (``bench/integrity_canary.py``): another weak model's
  labels on every seed, against the old canary (shuffled labels, first seed only) and against none.

Usage: python bench/integrity.py [ROUNDS] [CALLS_PER_ROUND]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar.config import RunConfig  # noqa: E402
from aar.runtime import RunPaths  # noqa: E402
from aar.store import RunStore  # noqa: E402
from agents.agent_state import AgentControl  # noqa: E402
from agents.sandbox_slot import SandboxSlot  # noqa: E402
from agents.tools.base import CallContext, Toolbox  # noqa: E402
from agents.tools.files import ReadFile, WriteFile  # noqa: E402
from sandbox.base import READ_LIMIT  # noqa: E402
from sandbox.files import Workspace  # noqa: E402
from sandbox.local import LocalSandbox  # noqa: E402

CONTENT = "def run(ctx):\n    return ctx.weak_labels\n" * 20
"""About 1 KB: a method file, the common case."""


class PlainWorkspace(Workspace):
    """The defences off: the path joined to the root and opened as it comes."""

    def read(self, path: str, limit: int = READ_LIMIT) -> bytes:
        with open(self.root / path, "rb") as handle:
            return handle.read()

    def write(self, path: str, data: bytes) -> None:
        with open(self.root / path, "wb") as handle:
            handle.write(data)


@dataclass
class Section:
    name: str
    what: str
    ratios: list[float]
    on_s: list[float]
    off_s: list[float]

    def line(self) -> str:
        on, off = statistics.median(self.on_s), statistics.median(self.off_s)
        return f"{self.name}: {self.what}: on {on * 1e6:.0f} us, off {off * 1e6:.0f} us, median on/off {statistics.median(self.ratios):.2f}"


async def paired(
    rounds: int, setup: Callable[[bool], None], body: Callable[[], Awaitable[float]]
) -> tuple[list[float], list[float], list[float]]:
    """Per round: ``body`` timed with the defence off and on (order alternating); returns ratios, on, off."""
    ratios, ons, offs = [], [], []
    for n in range(rounds):
        timed: dict[bool, float] = {}
        for on in (False, True) if n % 2 == 0 else (True, False):
            setup(on)
            timed[on] = await body()
        ratios.append(timed[True] / timed[False])
        ons.append(timed[True])
        offs.append(timed[False])
    return ratios, ons, offs


async def file_tools(rounds: int, calls: int) -> Section:
    with tempfile.TemporaryDirectory(prefix="aar-bench-integrity-") as tmp:
        paths = RunPaths(Path(tmp) / "run")
        paths.make()
        workspace = paths.workspace("agent-1")
        workspace.mkdir(parents=True)
        config = RunConfig.model_validate(
            {
                "run": {"name": "bench"},
                "team": {"count": 1},
                "sandbox": {"backend": "local", "isolation": "none-allowed"},
            }
        )
        store = await RunStore.open(paths.db, create=True)
        slot = SandboxSlot(config.sandbox, store=store, agent="agent-1", run_id="bench", workspace=workspace)
        try:
            sandbox = await slot.get()
            assert isinstance(sandbox, LocalSandbox)
            shipped = sandbox.files
            plain = PlainWorkspace(workspace)
            call = CallContext("agent-1", 1, "c", store, config, slot, AgentControl("agent-1"))
            tools = Toolbox([ReadFile(), WriteFile()])

            def setup(on: bool) -> None:
                sandbox.files = shipped if on else plain

            async def body() -> float:
                start = time.perf_counter()
                for _ in range(calls):
                    wrote = await tools.call("write_file", {"path": "methods/m.py", "content": CONTENT}, call)
                    read = await tools.call("read_file", {"path": "methods/m.py"}, call)
                    assert not wrote.is_error and not read.is_error, (wrote.output, read.output)
                return (time.perf_counter() - start) / calls

            (workspace / "methods").mkdir()
            await body()  # warm up: the sandbox, the thread pool, the caches
            ratios, ons, offs = await paired(rounds, setup, body)
        finally:
            await slot.close()
            await store.close()
    return Section("file_tools", "write_file + read_file round trip (1 KB)", ratios, ons, offs)


async def main(rounds: int, calls: int) -> None:
    from bench.integrity_canary import main as canary

    sections = [await file_tools(rounds, calls)]
    for section in sections:
        print(section.line())
    canary(["--size", "2000", "--seeds", "3"])


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [15, 400][len(args) :])))
