"""Alerts off the box: inbox items reach a local HTTP server as JSON (and a command on its stdin), with no
secret in them; a flood is batched and rate-limited; a failing hook is retried and every send and failure is
an event. A real store, a real HTTP server on 127.0.0.1, a real subprocess."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from aar.config import dump_config, load_config
from aar.config.notify import NotifyConfig
from aar.errors import ConfigError
from aar.events import ErrorRaised, NotifyFailed, NotifySent, SupervisorAsked
from aar.inbox import ALERT, catch_up
from aar.notify import Notifier
from aar.store import RunStore
from tests.agents.helpers import events
from tests.fakes.anthropic_fixtures import API_KEY
from tests.support import FakeClock, aar_cli, eventually_sync
from tests.support.cli import DEMO


class Hook:
    """A local webhook: what it received, and the status it answers."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()


def _config(**fields: Any) -> NotifyConfig:
    return NotifyConfig.model_validate(fields)


async def _raise(store: RunStore, n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        store.emit(f"agent-{i % 3}", ErrorRaised(message=f"sandbox failed \x1b[2J #{i}", where="sandbox"))
    await store.flush()
    await catch_up(store)


async def _settle(n: Notifier) -> None:
    await asyncio.wait_for(asyncio.gather(*n.sends), 30)
    await n.store.flush()


async def test_items_reach_a_local_webhook_as_json_with_no_secret(
    store: RunStore, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    clock = FakeClock()
    n = Notifier(_config(webhook=hook.url, min_rank="blocking"), store, "r1", clock=clock)
    await n.step()  # a new entry starts at the inbox's end
    store.emit("agent-1", SupervisorAsked(step=3, question="Which seed? \x1b[31mred", call_id="q-1"))
    await _raise(store, 2)  # alerts: under min_rank, not sent
    await n.step()
    await _settle(n)
    [body] = hook.bodies
    assert body["run"] == "r1" and body["more"] == 0
    [item] = body["items"]
    assert (item["kind"], item["rank"], item["agent"]) == ("ask", "blocking", "agent-1")
    assert "\x1b" not in item["summary"] and "\\x1b[31m" in item["summary"]
    assert len(item["summary"]) <= 200
    assert API_KEY not in json.dumps(hook.bodies) and "ANTHROPIC_API_KEY" not in json.dumps(hook.bodies)
    sent = [e.payload for e in await events(store, NotifySent)]
    assert [(s.notifier, s.items, s.item_kinds) for s in sent] == [("notify", 1, ["ask"])]
    assert await store.get_meta("notify_cursor:notify") is not None


async def test_a_flood_is_batched_and_rate_limited_per_kind(store: RunStore, hook: Hook) -> None:
    clock = FakeClock()
    n = Notifier(_config(webhook=hook.url, every_s=60), store, "r1", clock=clock)
    await n.step()
    await _raise(store, 100)
    await n.step()
    await _settle(n)
    assert len(hook.bodies) == 1, "a hundred items together: one send"
    assert len(hook.bodies[0]["items"]) == 50 and hook.bodies[0]["more"] == 50
    await _raise(store, 5, start=100)
    clock.advance(30)
    await n.step()
    await _settle(n)
    assert len(hook.bodies) == 1, "within the minute: held"
    clock.advance(31)
    await n.step()
    await _settle(n)
    assert len(hook.bodies) == 2 and len(hook.bodies[1]["items"]) == 5


async def test_a_failing_hook_is_retried_and_each_failure_is_an_event(store: RunStore, hook: Hook) -> None:
    hook.status = 500
    n = Notifier(_config(webhook=hook.url, retries=1), store, "r1")
    await n.step()
    await _raise(store, 1)
    await n.step()
    await _settle(n)
    failed = [e.payload for e in await events(store, NotifyFailed)]
    assert [(f.attempt, f.final) for f in failed] == [(1, False), (2, True)]
    assert "HTTP Error 500" in failed[0].error and len(hook.bodies) == 2
    # The last failure (no try left: the alert is lost) raises an inbox item, which no hook is asked to send:
    # through the hook that failed it would fail again, and raise another.
    await catch_up(store)
    items = await store.inbox()
    assert sorted(i.kind for i in items) == ["error", "notify"]
    (lost,) = [i for i in items if i.kind == "notify"]
    assert lost.rank == ALERT and "try 2 failed" in lost.summary and lost.summary.endswith("; dropped")
    hook.status = 200
    await n.step()
    await _settle(n)
    assert len(hook.bodies) == 2 and not n.pending, "the failure's own item is not sent"


async def test_a_command_gets_the_batch_on_stdin(store: RunStore, tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    argv = [sys.executable, "-c", f"import sys; open({str(out)!r}, 'w').write(sys.stdin.read())"]
    n = Notifier(_config(command=argv), store, "r1")
    await n.step()
    await _raise(store, 2)
    await n.step()
    await _settle(n)
    assert [i["kind"] for i in json.loads(out.read_text())["items"]] == ["error", "error"]


@pytest.mark.parametrize(
    "entry",
    [{}, {"command": ["x"], "webhook": "http://127.0.0.1/x"}, {"command": []}, {"webhook": "not a url"}],
)
def test_a_notify_entry_needs_one_way_out(entry: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as bad:
        load_config({"notify": [entry]})
    assert "notify" in str(bad.value)


@pytest.mark.slow
def test_a_running_daemon_sends_its_approvals_to_a_local_webhook(tmp_path: Path, hook: Hook) -> None:
    """The daemon's own notify task: a team that asks for approval reaches the hook within seconds."""
    data = load_config(DEMO, ["team.count=1", "team.approval=true", "team.pace_s=0.1"]).model_dump(
        mode="json", exclude_none=True
    )
    data["notify"] = [{"name": "phone", "webhook": hook.url, "min_rank": "blocking", "every_s": 0}]
    config = tmp_path / "notify.toml"
    config.write_text(dump_config(load_config(data)))
    started = aar_cli("run", str(config), "--no-attach", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    (root,) = (tmp_path / "runs").iterdir()
    try:
        eventually_sync(lambda: hook.bodies, what="an approval sent to the hook", timeout=120)
        item = hook.bodies[0]["items"][0]
        assert (item["kind"], item["rank"], item["agent"]) == ("approval", "blocking", "agent-1")
    finally:
        stopped = aar_cli("stop", root.name, cwd=tmp_path, timeout=180)
    assert stopped.returncode == 0, stopped.stderr
