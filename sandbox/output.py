"""Turning a command's output bytes into ordered lines with bounded memory.

A command may print hundreds of megabytes. Every byte goes to the caller's
callback as it comes, one line at a time (a line with no newline in sight is
cut every ``MAX_LINE`` bytes, so one endless line cannot hold memory either);
the ``ExecResult`` keeps only the last ``keep_bytes`` of each stream.
"""

from __future__ import annotations

import codecs

from sandbox.base import OutputCallback, Stream

MAX_LINE = 64 * 1024
"""Longest piece handed to the callback as one line; longer lines arrive in pieces."""


class _Tail:
    """The last ``limit`` bytes of one stream."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self.buf = bytearray()
        self.seen = 0

    def add(self, data: bytes) -> None:
        self.seen += len(data)
        if self.limit == 0:
            return
        self.buf += data[-self.limit :]
        if len(self.buf) > 2 * self.limit:
            del self.buf[: len(self.buf) - self.limit]

    def text(self) -> str:
        data = bytes(self.buf[-self.limit :]) if self.limit else b""
        if self.seen > len(data):
            while data and data[0] & 0xC0 == 0x80:  # do not start inside a UTF-8 character
                data = data[1:]
        return data.decode("utf-8", errors="replace")


class _Lines:
    """Splits one stream into lines, decoding UTF-8 across chunk boundaries."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.pending = ""

    def feed(self, data: bytes, final: bool = False) -> list[str]:
        parts = (self.pending + self.decoder.decode(data, final)).split("\n")
        self.pending = parts.pop()
        lines = [part + "\n" for part in parts]
        if final and self.pending:
            lines.append(self.pending)
            self.pending = ""
        out: list[str] = []
        for line in lines:
            if len(line) <= MAX_LINE:
                out.append(line)
            else:
                out.extend(line[i : i + MAX_LINE] for i in range(0, len(line), MAX_LINE))
        while len(self.pending) >= MAX_LINE:
            out.append(self.pending[:MAX_LINE])
            self.pending = self.pending[MAX_LINE:]
        return out


class OutputPump:
    """Feed it chunks as they come; it calls ``on_output`` per line and keeps the tails."""

    def __init__(self, on_output: OutputCallback | None, keep_bytes: int) -> None:
        self.on_output = on_output
        self.tails = {"stdout": _Tail(keep_bytes), "stderr": _Tail(keep_bytes)}
        self.lines: dict[Stream, _Lines] = {"stdout": _Lines(), "stderr": _Lines()}
        self.total = 0

    async def feed(self, stream: Stream, data: bytes) -> None:
        self.total += len(data)
        self.tails[stream].add(data)
        if self.on_output is not None:
            for line in self.lines[stream].feed(data):
                await self.on_output(stream, line)

    async def note(self, stream: Stream, text: str) -> None:
        """Add a line of our own (e.g. why a command was killed) to the stream and its tail."""
        await self.finish()
        line = text if text.endswith("\n") else text + "\n"
        self.tails[stream].add(line.encode())
        if self.on_output is not None:
            await self.on_output(stream, line)

    async def finish(self) -> None:
        """Hand over what is left of unterminated last lines."""
        if self.on_output is None:
            return
        for stream, splitter in self.lines.items():
            for line in splitter.feed(b"", final=True):
                if line:
                    await self.on_output(stream, line)

    def tail(self, stream: Stream) -> str:
        return self.tails[stream].text()
