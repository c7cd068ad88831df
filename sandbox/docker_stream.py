"""Running one command in a container: the streamed exec and the kill of its tree.

The docker SDK is blocking, so one worker thread per command runs
``exec_start(stream=True, demux=True)`` and hands chunks to the event loop
through a small credit window: when the loop (or the caller's callback) is
slower than the command, the thread stops reading, the engine's pipe fills
and the command blocks; memory stays bounded however much it prints.

Every command carries ``AAR_EXEC=<token>`` in its environment, and so does
every process it starts. Killing a command kills every process in the
container whose environment holds its token (so ``setsid`` or a double fork
does not escape), from a second exec; if that exec cannot even start (a fork
bomb holds every pid) the caller kills the container instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any

from sandbox.base import SandboxError
from sandbox.output import OutputPump
from sandbox.policy import MARKER_VAR

CREDITS = 16
"""Chunks in flight between the reading thread and the event loop."""

KILL_SCRIPT = f"""
for round in 1 2 3 4 5; do
  found=
  for token in "$@"; do
    for file in $(grep -l -z -x "{MARKER_VAR}=$token" /proc/[0-9]*/environ 2>/dev/null); do
      pid=${{file#/proc/}}; pid=${{pid%/environ}}
      kill -9 "$pid" 2>/dev/null && found=1
    done
  done
  [ -n "$found" ] || exit 0
done
"""

OOM_SCRIPT = "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null"


class ExecStream:
    """The output of one exec, read by a thread, consumed on the loop."""

    def __init__(self, api: Any, exec_id: str) -> None:
        self.api = api
        self.exec_id = exec_id
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[str, bytes] | BaseException | None] = asyncio.Queue()
        self.credits = threading.Semaphore(CREDITS)
        self.aborted = threading.Event()
        self.done = asyncio.Event()
        self._stream: Any = None
        self.thread = threading.Thread(target=self._read, name=f"aar-exec-{exec_id[:8]}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _push(self, item: tuple[str, bytes] | BaseException | None) -> bool:
        while not self.credits.acquire(timeout=0.25):
            if self.aborted.is_set():
                return False
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        return True

    def _read(self) -> None:
        try:
            self._stream = self.api.exec_start(self.exec_id, stream=True, demux=True)
            hold_open(self.api, self._stream)
            for out, err in self._stream:
                if (out and not self._push(("stdout", out))) or (err and not self._push(("stderr", err))):
                    return
            self._push(None)
        except BaseException as exc:
            self._push(exc if not self.aborted.is_set() else None)
        finally:
            self.close()

    async def pump_into(self, pump: OutputPump) -> None:
        """Feed every chunk to ``pump`` until the command's output ends."""
        try:
            while (item := await self.queue.get()) is not None:
                self.credits.release()
                if isinstance(item, BaseException):
                    raise SandboxError(f"the Docker engine broke off the command's output: {item}") from item
                stream, data = item
                await pump.feed("stderr" if stream == "stderr" else "stdout", data)
        finally:
            self.done.set()

    def abort(self) -> None:
        """Stop reading (the thread ends at its next chunk, or now if the socket is closed); on the loop only."""
        self.aborted.set()
        self.close()
        self.queue.put_nowait(None)

    def close(self) -> None:
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def exit_code(self) -> int | None:
        """The exit code, once the engine has recorded it (it can lag the end of the stream)."""
        deadline = time.monotonic() + 5.0
        while True:
            try:
                info = self.api.exec_inspect(self.exec_id)
            except Exception:
                return None
            if not info.get("Running") or time.monotonic() > deadline:
                code = info.get("ExitCode")
                return None if code is None else int(code)
            time.sleep(0.005)


KEEPALIVE_S = (30, 10, 3)
"""TCP keepalive of a command's output stream: idle seconds, then probes every so many seconds, so many times."""


def hold_open(api: Any, stream: Any) -> None:
    """Let a partitioned host break a command's output stream instead of holding it for ever.

    docker-py waits for each chunk of an exec stream in a ``select`` without a timeout, so the client's timeout
    (which bounds every other call) never ends a quiet command, nor a dead host's. Over TCP the stream's
    socket gets keepalive probes: a host that vanished without a word breaks it within about a minute."""
    raw = api._get_raw_response_socket(stream._response)  # docker-py's own helper; no public way to it
    idle, every, count = KEEPALIVE_S
    for sock in (raw, getattr(raw, "_sock", None)):
        if not isinstance(sock, socket.socket) or sock.family not in (socket.AF_INET, socket.AF_INET6):
            continue
        with contextlib.suppress(OSError):  # not a TCP connection after all (docker-py's ssh:// socket)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, every)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)


def oom_kills(api: Any, container: str, user: str) -> int:
    """How many processes the kernel has killed for memory in this container so far."""
    exec_id = api.exec_create(container, ["sh", "-c", OOM_SCRIPT], user=user)["Id"]
    text = api.exec_start(exec_id).decode(errors="replace")
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "oom_kill" and parts[1].isdigit():
            return int(parts[1])
    return 0


def kill_tokens(api: Any, container: str, user: str, tokens: list[str]) -> None:
    """Kill every process carrying one of ``tokens``; raises if the kill could not run."""
    exec_id = api.exec_create(container, ["sh", "-c", KILL_SCRIPT, "aar-kill", *tokens], user=user)["Id"]
    api.exec_start(exec_id)
