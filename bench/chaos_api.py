"""The chaos bench's Messages API: the test suite's fake server, on a thread of its own, with its faults on.

The daemon (another process) reaches it over loopback. A seeded share of its
answers are faults: 429 with ``retry-after``, 529 ``overloaded_error``, an
``error`` event in the middle of a stream, a connection dropped inside a
tool call's JSON. ``refuse(seconds)`` closes the listening socket (connections
are refused) and opens it again on the same port.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from concurrent.futures import Future
from typing import Any

from tests.fakes.anthropic_replies import Drop, HttpError, Scripted, StreamError, ToolUse, reply
from tests.fakes.anthropic_server import FakeAnthropic

API_FAULT_SHARE = 0.2
"""Share of model calls answered with a fault rather than a reply."""


def researcher(body: dict[str, Any]) -> Scripted:
    """A Claude-backed researcher that never finishes: it reads, posts, checks the board and runs a command."""
    turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
    match turn % 4:
        case 0:
            return reply("Reading the forum before I pick an idea.", ToolUse("forum_read", {}))
        case 1:
            title = f"Note {turn}: weak-label noise"
            return reply(
                "Posting a note.", ToolUse("forum_post", {"title": title, "body": "Label noise looks uneven."})
            )
        case 2:
            return reply("Checking the leaderboard.", ToolUse("leaderboard", {}))
        case _:
            return reply("A quick look at the task.", ToolUse("bash", {"command": "ls task | head -5; sleep 1"}))


class ChaosApi:
    """``FakeAnthropic`` on its own event loop thread; ``faults`` counts the faults it served, by kind."""

    def __init__(self, rng: random.Random, *, fault_share: float = API_FAULT_SHARE) -> None:
        self.rng = rng
        self.fault_share = fault_share
        self.faults: Counter[str] = Counter()
        self.calls = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="chaos-api", daemon=True)
        self._server = FakeAnthropic(responder=self._answer)
        self._port = 0
        self.refusing = False

    def _answer(self, body: dict[str, Any]) -> Scripted:
        self.calls += 1
        if self.rng.random() >= self.fault_share:
            return researcher(body)
        kind = self.rng.choice(("429", "529", "stream_error", "dropped_stream"))
        self.faults[kind] += 1
        match kind:
            case "429":
                return HttpError(429, "rate_limit_error", "slow down", headers={"retry-after": "1"})
            case "529":
                return HttpError(529, "overloaded_error", "Overloaded")
            case "stream_error":
                return StreamError()
            case _:
                return Drop(reply("Running it.", ToolUse("bash", {"command": "echo dropped"})))

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=30)

    def start(self) -> str:
        """Start serving; the base URL."""
        self._thread.start()
        self._call(self._server.start())
        self._port = int(self._server.base_url.rsplit(":", 1)[1])
        return self._server.base_url

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def refuse(self) -> None:
        """Stop listening (and drop open connections): calls meet ``connection refused``."""
        self._call(self._server.aclose())
        self.refusing = True

    def listen(self) -> None:
        """Listen again on the same port (nothing to do if it listens)."""
        if not self.refusing:
            return

        async def reopen() -> None:
            self._server._server = await asyncio.start_server(self._server._connection, "127.0.0.1", self._port)

        self._call(reopen())
        self.refusing = False

    def close(self) -> None:
        self._call(self._server.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
