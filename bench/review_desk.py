"""Review desk benchmark: a run with 500 submissions and a best method whose diff against its author's method
before it is 2,000 lines; how fast the desk opens, switches candidates and shows the diff.

Side by side in one run (the machines are shared and noisy): the real app attached headless at 160x48
through Pilot, after a synthetic run of 9 agents with 450 verified methods (about 100 lines of source each,
scored on ``seeds``) and 50 prediction files, 2,000 tool events per agent for the lineage to walk, and the
best method (agent-9's last) a 1,000-line rewrite of its 1,000-line method before.

1. ``l`` opens the leaderboard (the reference), until the frame after it is on screen; then back.
2. ``R`` opens the review desk, until the frame after the best candidate's source and lineage are drawn. The
   first open builds the desk's screen (printed apart); later ones show the same screen on the store's latest.
3. ``down`` moves to the next candidate, until the frame after its source is drawn (then ``up`` back).
4. ``d`` shows the best method's 2,000-line diff, until the frame after it is drawn (then ``d`` back).

Each line gives p50 and p99 in ms and the CPU the app's process spent (all its threads).
Last line: the desk's open p99 (target < 150 ms) and its ratio to the leaderboard's.
Usage: python bench/review_desk.py [OPENS]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar.events import SubmissionCreated, ToolCalled, ToolReturned  # noqa: E402
from aar.lock import DaemonLock  # noqa: E402
from aar.runtime import RunPaths  # noqa: E402
from aar.store import RunStore  # noqa: E402
from bench.timing import key_to_frame  # noqa: E402

AGENTS = [f"agent-{i}" for i in range(1, 10)]
METHODS = 450
PREDICTIONS = 50
TOOL_EVENTS = 2000
"""Per agent, before its submissions: writes, bash calls, forum reads and results."""
BIG = 1000
"""Lines of the best method and of its author's method before it (a rewrite: a 2,000-line diff)."""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _line(name: str, values: list[float], cpu: list[float]) -> str:
    return (
        f"{name}: p50 {statistics.median(values):.1f} ms, p99 {_pct(values, 0.99):.1f} ms (n={len(values)})"
        f" | CPU p50 {statistics.median(cpu):.1f} ms, p99 {_pct(cpu, 0.99):.1f} ms"
    )


def _source(lines: int, seed: int) -> str:
    rng = random.Random(seed)
    body = [f"    x_{i} = ctx.feature({rng.randrange(1000)}) * {rng.random():.4f}  # step {i}" for i in range(lines)]
    return "def run(ctx):\n" + "\n".join(body) + "\n    return x_0\n"


async def _make_run(root: Path) -> tuple[RunPaths, int]:
    """The run; returns the best method's id."""
    paths = RunPaths(root)
    paths.make()
    paths.config.write_text('[run]\nname = "bench"\n')
    rng = random.Random(7)
    async with await RunStore.open(paths.db, create=True, batch_size=5000) as store:
        await store.set_meta("run_id", "bench")
        await store.set_meta("state", "running")
        for name in AGENTS:
            await store.register_agent(name, backend="scripted", model="m", direction="d")
            for step in range(TOOL_EVENTS // 4):
                path = f"methods/m{step % 7}.py"
                store.emit(name, ToolCalled(step=step, call_id=f"w{step}", tool="write_file", input={"path": path}))
                store.emit(name, ToolCalled(step=step, call_id=f"b{step}", tool="bash", input={"command": "ls"}))
                store.emit(name, ToolCalled(step=step, call_id=f"f{step}", tool="forum_read", input={"limit": 20}))
                out = f"submission #{step} scored: PGR 0.{step % 90:02d}"
                store.emit(name, ToolReturned(step=step, call_id=f"s{step}", tool="submit_method", ok=True, output=out))
        await store.flush()
        best = 0
        for n in range(METHODS + PREDICTIONS):
            agent = AGENTS[n % len(AGENTS)]
            if n >= METHODS:
                payload: dict[str, object] = {"predictions": [rng.randrange(2) for _ in range(200)]}
                sid = await store.add_submission(agent, "predictions", payload, label=f"preds{n}.json")
                split, pgr = "feedback", rng.uniform(0, 0.5)
            else:
                last = n == METHODS - 1
                big = n in (METHODS - 1 - len(AGENTS), METHODS - 1)  # the same agent's last two methods
                source = _source(BIG if big else 100, seed=n)
                label = f"methods/m{n % 7}.py"
                sid = await store.add_submission(
                    agent, "method", {"filename": label[8:], "source": source}, label=label
                )
                split, pgr = "seeds", 0.99 if last else rng.uniform(0, 0.9)
                best = sid if last else best
            store.emit(
                agent, SubmissionCreated(submission_id=sid, submission_kind="predictions" if n >= METHODS else "method")
            )
            job = await store.enqueue_job("method", {}, submission_id=sid, status="done")
            await store.add_result(
                job, submission_id=sid, split=split, pgr=pgr, ci_low=pgr - 0.05, ci_high=pgr + 0.05, metrics={}
            )
            await store.update_submission(sid, status="scored")
        await store.flush()
    return paths, best


async def _measure(paths: RunPaths, best: int, n: int) -> dict[str, tuple[list[float], list[float]]]:
    from tui.app import AarApp
    from tui.screens.leaderboard import LeaderboardScreen
    from tui.screens.main import MainScreen
    from tui.screens.review import ReviewScreen
    from tui.widgets.code_view import CodeView

    app = AarApp(paths.root)
    found: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in ("board", "desk", "switch", "diff")}
    async with app.run_test(size=(160, 48)) as pilot:
        while len(app.model.agents) < len(AGENTS) or not app.model.leaderboard:
            await pilot.pause(0.05)
        await pilot.pause(0.5)

        async def one(name: str, key: str, ready: Callable[[], bool]) -> None:
            wall, spent = await key_to_frame(app, key, ready)
            found[name][0].append(wall)
            found[name][1].append(spent)

        async def back(key: str, ready: Callable[[], bool]) -> None:
            app.simulate_key(key)
            while not ready():
                await asyncio.sleep(0.001)
            await pilot.pause(0.05)

        def desk() -> ReviewScreen | None:
            screen = app.screen
            return screen if isinstance(screen, ReviewScreen) else None

        def shows(sid: int, kind: str = "source") -> Callable[[], bool]:
            def check() -> bool:
                screen = desk()
                return (
                    screen is not None
                    and screen.detail is not None
                    and screen.detail.submission.id == sid
                    and screen.query_one(CodeView).kind == kind
                )

            return check

        for _ in range(n):
            await one("board", "l", lambda: isinstance(app.screen, LeaderboardScreen))
            await back("escape", lambda: isinstance(app.screen, MainScreen))
            await one("desk", "R", shows(best))
            screen = desk()
            assert screen is not None
            second = screen.candidates[1].submission_id
            await one("switch", "down", shows(second))
            await back("up", shows(best))
            await one("diff", "d", shows(best, "diff"))
            diff_lines = len(screen.query_one(CodeView).lines)
            await back("d", shows(best))
            await back("escape", lambda: isinstance(app.screen, MainScreen))
    print(f"the best method's diff: {diff_lines:,} lines")
    return found


async def bench(opens: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths, best = await _make_run(Path(tmp) / "run")
        with DaemonLock(paths.lock):  # held as a live daemon holds it
            found = await _measure(paths, best, opens)
    first = found["desk"][0][0], found["desk"][1][0]
    found["desk"] = (found["desk"][0][1:], found["desk"][1][1:])
    print(_line("open the leaderboard (reference)", *found["board"]))
    print(f"the desk's first open (builds the screen): {first[0]:.1f} ms, CPU {first[1]:.1f} ms")
    print(_line(f"open the review desk again, {METHODS + PREDICTIONS} submissions", *found["desk"]))
    print(_line("switch to the next candidate", *found["switch"]))
    print(_line("show the 2,000-line diff (d)", *found["diff"]))
    desk, board = _pct(found["desk"][0], 0.99), _pct(found["board"][0], 0.99)
    switch = _pct(found["switch"][0], 0.99)
    print(
        f"review desk open p99 {desk:.1f} ms (target < 150), first open {first[0]:.1f} ms; vs the leaderboard"
        f" {desk / board:.2f}x;"
        f" switch p99 {switch:.1f} ms ({switch / board:.2f}x)"
    )


if __name__ == "__main__":
    asyncio.run(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
