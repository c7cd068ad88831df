"""Sandbox benchmark: what the backends cost over the bare mechanism they wrap.

Side by side in one run, interleaved round by round so load drift on the
shared machine hits every side alike (medians reported):

1. A trivial command (``true``) through ``DockerSandbox.exec`` (streamed, exit
   code read back, tree-kill marker set), the SDK's own ``container.exec_run``
   on the same container, and the ``docker exec`` CLI.
2. The same through ``LocalSandbox.exec`` (bubblewrap, and plain) and a bare
   ``asyncio.create_subprocess_exec``.
3. Streamed throughput: N MB printed as 1000-byte lines through each backend
   with a per-line callback, against ``cat`` of the same bytes into /dev/null
   (the pipe's own speed) and against ``docker exec`` of the same command
   (the engine's own stdio path, which bounds any docker client).

Uses the offline minimal image (``sandbox.minimal_image``); no registry needed.
Last line: the docker-backend round-trip ratio (backend / SDK exec_run); target <= 1.2.
Usage: python bench/sandbox.py [ROUNDS] [MB]
"""

from __future__ import annotations

import asyncio
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

# This file is named like the package it measures; run as a script, its folder would shadow it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import docker  # noqa: E402

from aar.config import SandboxConfig  # noqa: E402
from sandbox.base import Sandbox  # noqa: E402
from sandbox.docker_backend import DockerSandbox  # noqa: E402
from sandbox.local import LocalSandbox  # noqa: E402
from sandbox.minimal_image import ensure_minimal_image  # noqa: E402

FLOOD = "yes \"$(printf '%0999d' 0)\" | head -c {n}"


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def round_trips(sides: dict[str, Callable[[], Awaitable[object]]], rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for fn in sides.values():  # warm up every side once
        await fn()
    for _ in range(rounds):
        for name, fn in sides.items():
            samples[name].append(await timed(fn))
    return {name: statistics.median(values) for name, values in samples.items()}


async def stream_rate(box: Sandbox, n: int) -> float:
    count = 0

    async def line(stream: str, text: str) -> None:
        nonlocal count
        count += len(text)

    elapsed = await timed(lambda: box.exec(FLOOD.format(n=n), on_output=line, keep_bytes=10_000))
    assert count == n, f"{box.backend} streamed {count} of {n} bytes"
    return n / elapsed / 1e6


def shell_rate(command: str, n: int) -> float:
    start = time.perf_counter()
    subprocess.run(command, shell=True, check=True)
    return n / (time.perf_counter() - start) / 1e6


async def main(rounds: int, megabytes: int) -> None:
    client = docker.from_env()
    image = ensure_minimal_image(client)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        base.chmod(0o711)  # a root daemon's plain sandbox runs as uid 65534, who must pass it
        config = SandboxConfig(backend="docker", image=image, memory="1g", pids=256)
        dock = DockerSandbox(config, name="bench", workspace=base / "docker")
        bwrap = LocalSandbox(config, name="bench", workspace=base / "bwrap", isolate=True)
        unisolated = config.model_copy(update={"isolation": "none-allowed"})
        plain = LocalSandbox(unisolated, name="bench", workspace=base / "plain", isolate=False)
        for box in (dock, bwrap, plain):
            await box.start()
        container = client.containers.get(dock.container_name)

        async def bare() -> None:
            proc = await asyncio.create_subprocess_exec(
                "true", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            await proc.communicate()

        try:
            trips = await round_trips(
                {
                    "docker backend": lambda: dock.exec(["true"]),
                    "SDK exec_run": lambda: asyncio.to_thread(container.exec_run, ["true"], user=dock.user),
                    "docker exec CLI": lambda: asyncio.to_thread(
                        subprocess.run, ["docker", "exec", "-u", dock.user, dock.container_name, "true"], check=True
                    ),
                    "local bubblewrap": lambda: bwrap.exec(["true"]),
                    "local plain": lambda: plain.exec(["true"]),
                    "bare subprocess": bare,
                },
                rounds,
            )
            print(f"round trip of `true`, median of {rounds} (ms):")
            for name, value in trips.items():
                print(f"  {name:18s} {value * 1e3:8.2f}")
            docker_ratio = trips["docker backend"] / trips["SDK exec_run"]
            print(f"  docker backend / docker exec CLI: {trips['docker backend'] / trips['docker exec CLI']:.2f}")
            print(
                f"  local plain / bare subprocess: {trips['local plain'] / trips['bare subprocess']:.2f};"
                f" local bubblewrap / bare subprocess: {trips['local bubblewrap'] / trips['bare subprocess']:.2f}"
            )

            n = megabytes * 1_000_000
            data = base / "flood.txt"
            subprocess.run(["bash", "-c", FLOOD.format(n=n) + f" > {data}"], check=True)
            rates = {
                "cat (pipe floor)": shell_rate(f"cat {data} > /dev/null", n),
                "docker exec CLI": shell_rate(
                    f"docker exec {dock.container_name} sh -c {shlex.quote(FLOOD.format(n=n))} | cat > /dev/null", n
                ),
                "local plain": await stream_rate(plain, n),
                "local bubblewrap": await stream_rate(bwrap, n),
                "docker backend": await stream_rate(dock, n),
            }
            print(f"streamed throughput, {megabytes} MB as 1000-byte lines with a per-line callback (MB/s):")
            for name, value in rates.items():
                print(f"  {name:18s} {value:8.0f}  ({value / rates['cat (pipe floor)']:.2f} of cat)")
        finally:
            for box in (dock, bwrap, plain):
                await box.stop()
            client.close()
    print(f"docker backend round-trip ratio (backend / SDK exec_run): {docker_ratio:.2f}  (target <= 1.2)")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(args[0] if args else 40, args[1] if len(args) > 1 else 200))
