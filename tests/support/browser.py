"""A real headless Chromium driven over the DevTools protocol on a pipe: open a page, list every request the
page made, read the DOM it rendered.

Chromium is Debian's (``scripts/install --system``). Its own background requests (component updates, the
network time) are the browser's, not the page's: the page's are those the DevTools ``Network`` domain
reports for the page's target, which is what ``PageLoad.requests`` lists. Every host name resolves to
nothing (``--host-resolver-rules``), so whatever is tried, no byte leaves the machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser")
READ_CHUNK = 1 << 16


def chromium_or_skip() -> str:
    """The Chromium binary; a test without one fails in CI (where ``scripts/install --system`` installs it) and
    is skipped, saying why, elsewhere."""
    found = next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)
    if found is None:
        reason = "no chromium on PATH: `scripts/install --system` installs Debian's"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@dataclass
class PageLoad:
    """What one page did: the URLs it requested (its own document included) and blocked, and its DOM."""

    url: str
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    """Requests the browser refused (``Network.loadingFailed`` with a reason: a CSP, a failed lookup)."""
    dom: str = ""


class Browser:
    """One headless Chromium; ``load`` opens pages in it one after another."""

    def __init__(self, process: subprocess.Popen[bytes], to_chrome: int, from_chrome: int) -> None:
        self._process = process
        self._out = to_chrome
        self._in = from_chrome
        self._buffer = b""
        self._next_id = 0

    def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _messages(self) -> Iterator[dict[str, Any]]:
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._in, READ_CHUNK)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            yield json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send a command and return its result (events that come first are dropped)."""
        wanted = self._send(method, params, session)
        for message in self._messages():
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
        raise AssertionError("unreachable")

    def load(self, url: str) -> PageLoad:
        """Open ``url`` in a new tab, wait for its load event, and return its requests and DOM."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Network.enable", session=session)
        self.call("Page.enable", session=session)
        page = PageLoad(url)
        self._send("Page.navigate", {"url": url}, session)
        for message in self._messages():
            if message.get("sessionId") != session:
                continue
            params = message.get("params", {})
            match message.get("method"):
                case "Network.requestWillBeSent":
                    page.requests.append(params["request"]["url"])
                case "Network.loadingFailed" if params.get("blockedReason") or params.get("errorText"):
                    page.blocked.append(f"{params.get('blockedReason') or params.get('errorText')}")
                case "Page.loadEventFired":
                    break
        expression = "document.documentElement.outerHTML"
        found = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        page.dom = str(found["result"]["value"])
        self.call("Target.closeTarget", {"targetId": target})
        return page


@contextlib.contextmanager
def headless_chromium() -> Iterator[Browser]:
    """A headless Chromium for the test, closed after it."""
    binary = chromium_or_skip()
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()

    def pipes_at_3_and_4() -> None:
        """Where --remote-debugging-pipe reads and writes; moved out of the way first, as either may be 3 or 4."""
        reading, writing = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w))
        os.dup2(reading, 3)
        os.dup2(writing, 4)

    with tempfile.TemporaryDirectory(prefix="aar-chromium-") as profile:
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={Path(profile)}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=pipes_at_3_and_4,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        try:
            yield Browser(process, to_chrome_w, from_chrome_r)
        finally:
            with contextlib.suppress(OSError):
                os.close(to_chrome_w)
            os.close(from_chrome_r)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
