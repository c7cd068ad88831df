"""Notify benchmark: the daemon's CPU with a ``[[notify]]`` webhook on vs off, at about 5,000 events/s.

The stream of ``bench/monitors.py`` (a busy team of nine), with an error every ALERT_EVERY events so
the inbox fills with alerts (25 a second at 5,000 events/s), emitted and flushed as the daemon does,
with the daemon's inbox builder and its built-in monitors at work in both phases. With notify on, ``aar.notify.follow`` sends
the new items to a webhook served by another process on 127.0.0.1 (its CPU is not the daemon's),
batched once a second (``every_s = 1``). Phases alternate, so a drift of the shared machine weighs on
both alike. Last line: the median on/off CPU ratio; target <= 1.05.

Usage: python bench/notify.py [SECONDS_PER_PHASE] [ROUNDS] [RATE]
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar import inbox, notify  # noqa: E402
from aar.config import RunConfig  # noqa: E402
from aar.config.notify import NotifyConfig  # noqa: E402
from aar.events import ErrorRaised, EventPayload, ForumPosted  # noqa: E402
from aar.runtime import RunContext, RunPaths  # noqa: E402
from aar.store import RunStore  # noqa: E402
from agents.monitors import MonitorRunner  # noqa: E402
from bench.monitors import TICK_S, seed, stream  # noqa: E402

ALERT_EVERY = 200
SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


async def phase(root: Path, url: str | None, seconds: float, rate: int) -> tuple[float, int, int]:
    """(CPU seconds, events emitted, notify sends) of one phase."""
    paths = RunPaths(root)
    paths.make()
    store = await RunStore.open(paths.db, create=True)
    events = stream(int(seconds * rate))
    await seed(store, sum(model is ForumPosted for _, model, _ in events))
    config = RunConfig.model_validate({"run": {"name": "bench"}, "team": {"count": 9}})
    runner = MonitorRunner(RunContext(paths=paths, config=config, store=store))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(inbox.follow(store, stop))]
    monitoring = asyncio.create_task(runner.run())
    if url is not None:
        hook = NotifyConfig.model_validate({"webhook": url, "every_s": 1.0})
        tasks.append(asyncio.create_task(notify.follow(store, [hook], "bench", stop)))
    await asyncio.sleep(0.2)
    per_tick = max(1, int(rate * TICK_S))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for start in range(0, len(events), per_tick):
        for k, (agent, model, fields) in enumerate(events[start : start + per_tick], start):
            if k % ALERT_EVERY == 0:
                store.emit(agent, ErrorRaised(message=f"the sandbox failed ({k})", where="sandbox"))
            else:
                store.emit(agent, cast(EventPayload, model(**fields)))
        await asyncio.sleep(max(wall0 + (start + per_tick) / rate - time.perf_counter(), 0))
    await store.flush()
    await asyncio.sleep(1.5)  # the last fold, and the last send
    stop.set()
    await asyncio.gather(*tasks)
    cpu = time.process_time() - cpu0
    monitoring.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await monitoring
    sent = len(await store.events_after(0, kinds=["notify.sent"], limit=1_000_000))
    await store.close()
    return cpu, len(events), sent


async def main(seconds: float, rounds: int, rate: int) -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/hook"
        ratios = []
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(rounds):
                order = [("off", None), ("on", url)] if r % 2 == 0 else [("on", url), ("off", None)]
                got = {name: await phase(Path(tmp) / f"{name}-{r}", u, seconds, rate) for name, u in order}
                ratios.append(got["on"][0] / got["off"][0])
                print(
                    f"round {r + 1}: off {got['off'][0]:.2f}s CPU for {got['off'][1]} events; "
                    f"on {got['on'][0]:.2f}s CPU, {got['on'][2]} sends; on/off {ratios[-1]:.3f}"
                )
        print(
            f"daemon CPU with a notify webhook on / off at {rate} events/s (median of {rounds}): "
            f"{statistics.median(ratios):.3f} (target <= 1.05)"
        )
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(5)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        main(
            float(args[0]) if args else 5.0,
            int(args[1]) if len(args) > 1 else 3,
            int(args[2]) if len(args) > 2 else 5000,
        )
    )
