"""A local HTTP server that speaks the Anthropic Messages API, for the real SDK to talk to.

It is a real server on a loopback port (asyncio streams, HTTP/1.1 with
keep-alive and chunked SSE responses), so the SDK's own HTTP client, SSE
decoder and error mapping are what the tests exercise. It answers
``POST /v1/messages`` from a script of replies (see ``anthropic_replies``),
falls back to ``responder`` when the script is empty, records every request
(raw body bytes included) and simulates the prompt cache in its usage.

    async with FakeAnthropic() as server:
        server.script(reply("hi"), HttpError(429, "rate_limit_error", headers={"retry-after": "1"}))
        client = anthropic.AsyncAnthropic(api_key="k", base_url=server.base_url)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from tests.fakes.anthropic_cache import PromptCache
from tests.fakes.anthropic_replies import (
    Drop,
    HttpError,
    Reply,
    Scripted,
    StreamError,
    cut_inside_tool_input,
    error_body,
    reply,
    reply_events,
    sse,
)


@dataclass(frozen=True)
class Recorded:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    ts: float

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.body)
        return body


Responder = Callable[[dict[str, Any]], Scripted]


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else None


def end_turn(_: dict[str, Any]) -> Scripted:
    return reply("Done.")


class FakeAnthropic:
    """The fake API. ``api_key``: the key it accepts (others get 401); None accepts any."""

    def __init__(self, *, api_key: str | None = None, responder: Responder = end_turn) -> None:
        self.api_key = api_key
        self.responder = responder
        self.requests: list[Recorded] = []
        self.served_s = 0.0
        """Seconds spent answering (parsing, scripting, writing): the server's share of a call."""
        self._script: list[Scripted] = []
        self._cache = PromptCache()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ids = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> FakeAnthropic:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return self

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> FakeAnthropic:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def script(self, *replies: Scripted) -> None:
        """Queue replies; each request takes the next one."""
        self._script.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not yet served."""
        return len(self._script)

    def bodies(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests if r.path.startswith("/v1/messages")]

    # ------------------------------------------------------------ HTTP

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # The loop is shutting down around an idle keep-alive connection; end quietly
            # (a cancelled handler task makes asyncio log a spurious traceback).
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection must close."""
        line = await reader.readline()
        if not line.strip():
            return False
        started = time.perf_counter()
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Recorded(method, path, headers, body, time.time()))
        keep = await self._answer(method, path, headers, body, writer)
        self.served_s += time.perf_counter() - started
        return keep

    async def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        if method != "POST" or path.split("?")[0] != "/v1/messages":
            return await self._error(writer, HttpError(404, "not_found_error", f"no route {method} {path}"))
        if self.api_key is not None and self.api_key not in (headers.get("x-api-key"), _bearer(headers)):
            return await self._error(writer, HttpError(401, "authentication_error", "invalid x-api-key"))
        try:
            request = json.loads(body)
        except json.JSONDecodeError:
            return await self._error(writer, HttpError(400, "invalid_request_error", "body is not JSON"))
        scripted = self._script.pop(0) if self._script else self.responder(request)
        if isinstance(scripted, HttpError):
            return await self._error(writer, scripted)
        if not request.get("stream"):
            return await self._error(writer, HttpError(400, "invalid_request_error", "this fake only streams"))
        return await self._stream(writer, request, scripted)

    async def _stream(self, writer: asyncio.StreamWriter, request: dict[str, Any], scripted: Scripted) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"request-id: req_fake\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        cache = self._cache.usage(request)
        self._ids += 1
        target = scripted.reply if isinstance(scripted, Drop) else scripted
        if isinstance(target, StreamError):
            events = reply_events(reply(), model=request["model"], msg_id=f"msg_{self._ids}", tool_ids=[], cache=cache)[
                :1
            ]
            events.append(sse("error", error_body(target.error_type, target.message)))
        else:
            assert isinstance(target, Reply)
            tool_ids = [f"toolu_{self._ids:04d}_{i}" for i in range(len(target.blocks))]
            events = reply_events(
                target, model=request["model"], msg_id=f"msg_{self._ids}", tool_ids=tool_ids, cache=cache
            )
        if isinstance(scripted, Drop):
            for event in cut_inside_tool_input(events):
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await writer.drain()
            writer.transport.abort()
            return False
        for event in events:
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _error(self, writer: asyncio.StreamWriter, error: HttpError) -> bool:
        body = json.dumps(error_body(error.error_type, error.message)).encode()
        reason = HTTPStatus(error.status).phrase if error.status in HTTPStatus._value2member_map_ else "Overloaded"
        head = [f"HTTP/1.1 {error.status} {reason}", "content-type: application/json", f"content-length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in error.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        return True
