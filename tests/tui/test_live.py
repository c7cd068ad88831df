"""The screen follows the store: events written by another process's connection show up within a poll or two."""

from __future__ import annotations

import pytest
from textual.widgets import OptionList

from aar.events import ModelText, SandboxOutput
from aar.runtime import RunPaths
from aar.store import RunStore
from tests.tui.helpers import screen_text, wait_for, wait_screen
from tui import model as model_module
from tui.app import AarApp
from tui.model import TAIL_LINES
from tui.screens import forum as forum_module
from tui.screens.forum import ForumScreen


async def test_streamed_text_and_new_posts_appear_live(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, "agent-1")
        async with await RunStore.open(run.db) as daemon:
            for chunk in ("Trying a", " lower learning", " rate now.\n"):
                daemon.emit("agent-1", ModelText(step=5, text=chunk))
            await daemon.flush()
            await wait_screen(pilot, "Trying a lower learning rate now.")  # how fast: bench/tui.py, event -> app
            await daemon.add_post("agent-4", "Ensembles help", "Three students, majority vote.")
            await wait_screen(pilot, "#5 agent-4 Ensembles")


async def test_on_screen_tails_stay_bounded_while_the_store_keeps_everything(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, "agent-1")
        async with await RunStore.open(run.db) as daemon:
            daemon.emit_raw(
                (
                    "agent-1",
                    "sandbox.output",
                    SandboxOutput(call_id="c", stream="stdout", text=f"row {i}\n").model_dump_json(),
                )
                for i in range(5000)
            )
            last = await daemon.flush()
            total = await daemon.event_count()
        await wait_for(pilot, lambda: app.model.last_event_id == last, timeout=10)
        view = app.model.agents["agent-1"]
        assert len(view.tail.lines) == TAIL_LINES and len(view.sandbox.lines) == TAIL_LINES
        assert view.sandbox.lines[-1].text == "row 4999"
        await wait_screen(pilot, "row 4999")
        assert total > 5000


async def test_an_agent_registered_after_attach_gets_its_own_pane(run: RunPaths) -> None:
    """The daemon marks a run running before the team registers every agent, so panes arrive one by one."""
    app = AarApp(run.root)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_screen(pilot, "agent-4")
        async with await RunStore.open(run.db) as daemon:
            for name in ("agent-5", "agent-6"):
                await daemon.register_agent(name, backend="scripted", model="scripted-researcher", direction="late")
                daemon.emit(name, ModelText(step=1, text=f"{name} joined late\n"))
                await daemon.flush()
                await wait_screen(pilot, f"{name} joined late")
        cards = [card.id for card in app.screen.query("AgentCard")]
        assert cards == [f"card-agent-{i}" for i in range(1, 7)]
        assert "agent-1" in screen_text(app)


async def test_the_forum_list_keeps_the_newest_posts_and_counts_them_all(
    run: RunPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_module, "POSTS_KEPT", 5)
    monkeypatch.setattr(forum_module, "POSTS_KEPT", 5)
    app = AarApp(run.root)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_screen(pilot, "forum · 4 posts")
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ForumScreen))
        async with await RunStore.open(run.db) as daemon:
            for i in range(8):
                await daemon.add_post("agent-2", f"live post {i}", "body")
        text = await wait_screen(pilot, "posts · newest 5 of 12")
        options = app.screen.query_one("#post-list", OptionList)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == ["8", "9", "10", "11", "12"]
        assert "live post 7" in text
        await pilot.press("escape")
        await wait_screen(pilot, "forum · 12 posts")
