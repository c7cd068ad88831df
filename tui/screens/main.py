"""The control room: every agent at a glance, the forum, the leaderboard, and a key for every command.

Wide terminals (120 columns and more, with rows enough for every pane to show
a few lines) show a pane per agent in a grid and the focused agent's sandbox
output; the others (80x24 over SSH, 9 agents at 120x30) collapse the agents to
a list and show the focused agent's whole activity instead. Every
action acts on the focused agent, asks first where it cannot be undone, and
writes a command to the store; the effect shows when the daemon reports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal

from aar.commands import (
    ALL_AGENTS,
    RUN_TARGET,
    ApprovalOff,
    ApprovalOn,
    Approve,
    Command,
    Deny,
    Interrupt,
    Pause,
    Redirect,
    Resume,
    Stop,
    StopRun,
)
from tui.model import AgentView, Changes, RunModel
from tui.screens.base import RunScreen
from tui.screens.dialogs import ConfirmScreen, PromptScreen
from tui.widgets.agent_card import AgentCard, AgentList
from tui.widgets.key_bar import KeyBar
from tui.widgets.leaderboard_table import LeaderboardTable
from tui.widgets.panels import ForumPanel, StatusBar, TailPane

WIDE = 120
"""Columns from which agents get a pane each."""
PANE_ROWS = 6
"""Rows a pane needs for its border, header, usage line and two lines of activity."""
FIXED_ROWS = 14 + 1 + 2
"""Rows the wide layout gives to the bottom panels, the status bar and (at most) two footer lines."""
CARDS_PER_TICK = 1
"""Agent panes redrawn per tick; the others wait their turn. One pane per frame keeps the frame's dirty area small
(the compositor redraws every widget inside the dirty areas' bounding box), so a key press waits for a short frame
rather than one spanning the screen: measured at 160x48, ~12 ms for 3 panes plus the focus pane (as when panes were
also redrawn after each poll), ~5 ms for 3 adjacent panes, ~3 ms for one."""
TICK_S = 1 / 30
"""Under a flood each of 9 panes is redrawn about every 0.3 s, on this timer only (not also after each poll)."""


def _grid_columns(n: int) -> int:
    return 1 if n <= 1 else 2 if n <= 4 else 3 if n <= 9 else 4


def fits_panes(width: int, height: int, agents: int) -> bool:
    """Whether every agent's pane gets ``PANE_ROWS`` rows; otherwise panes would be empty borders and a list reads better."""
    rows = -(-max(agents, 1) // _grid_columns(agents))
    return width >= WIDE and height - FIXED_ROWS >= rows * PANE_ROWS


class MainScreen(RunScreen):
    CSS_PATH = "main.tcss"
    AUTO_FOCUS = None
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.detach", "Detach", tooltip="Leave the TUI; the run keeps going", id="app.detach"),
        Binding("left,up", "move(-1)", "Previous", show=False, tooltip="Focus the previous agent", id="agent.prev"),
        Binding("right,down", "move(1)", "Next", show=False, tooltip="Focus the next agent", id="agent.next"),
        *[Binding(str(i), f"focus_agent({i})", f"Agent {i}", show=False, id=f"agent.focus-{i}") for i in range(1, 10)],
        Binding("p", "pause", "Pause", tooltip="Pause the focused agent after its current step", id="agent.pause"),
        Binding("r", "resume", "Resume", tooltip="Resume the focused agent", id="agent.resume"),
        Binding(
            "m",
            "redirect",
            "Redirect",
            tooltip="Send the focused agent a message it reads before its next model call",
            id="agent.redirect",
        ),
        Binding("b", "broadcast", "Bcast", tooltip="Send every agent a message", id="team.broadcast"),
        Binding(
            "i", "interrupt", "Intr", tooltip="Kill the focused agent's running sandbox command", id="agent.interrupt"
        ),
        Binding("a", "approve", "Approve", tooltip="Let the focused agent's pending tool call run", id="agent.approve"),
        Binding(
            "d", "deny", "Deny", tooltip="Refuse the focused agent's pending tool call, with a reason", id="agent.deny"
        ),
        Binding(
            "A",
            "toggle_approval",
            "Approval",
            tooltip="Make the focused agent's tool calls wait for approval, or stop that",
            id="agent.approval",
        ),
        Binding("s", "stop_agent", "Stop", tooltip="Stop the focused agent, after confirming", id="agent.stop"),
        Binding("S,ctrl+x", "stop_run", "Stop run", tooltip="Stop the whole run, after confirming", id="run.stop"),
        Binding(
            "enter,t",
            "inspect",
            "Inspect",
            tooltip="The focused agent's transcript, tool calls, tokens and workspace files",
            id="agent.inspect",
        ),
        Binding("f", "forum", "Forum", tooltip="Read the forum and reply as the supervisor", id="open.forum"),
        Binding("slash", "forum_search", "Search", tooltip="Search the forum", id="forum.search"),
        Binding("l", "leaderboard", "Board", tooltip="Every scored submission with its PGR and flags", id="open.board"),
        Binding("e", "jobs", "Evals", tooltip="The evaluator's queue: baselines and submissions", id="open.jobs"),
        Binding("I", "inbox", "Inbox", tooltip="What needs you: approvals, questions, alerts", id="open.inbox"),
        Binding(
            "R",
            "review",
            "Review",
            show=False,  # the key bar stays two lines at 80 columns; the palette, the README and the board list it
            tooltip="The review desk: the best methods, their sources, lineage and scores, and your verdicts",
            id="open.review",
        ),
        Binding(
            "w",
            "digest",
            "Away",
            show=False,  # the key bar is full at 80 columns; the palette lists it, and it opens by itself on attach
            tooltip="What happened since you last left: the digest",
            id="open.digest",
        ),
        Binding(
            "T",
            "timeline",
            "Timeline",
            show=False,  # the palette and the README list it; the key bar stays two lines at 80 columns
            tooltip="What happened when: a lane per agent over wall time, with its submissions, posts, flags, "
            "pauses, errors and budget events",
            id="open.timeline",
        ),
        Binding(
            "dollar_sign",
            "budget",
            "Budget",
            show=False,  # the palette and the README list it; the key bar stays two lines at 80 columns
            tooltip="Raise, lower or move the focused agent's budget",
            id="agent.budget",
        ),
        Binding(
            "B",
            "branch",
            "Branch",
            show=False,  # the palette and the README list it; the key bar stays two lines at 80 columns
            tooltip="A new agent from the focused agent's step shown (its last, or the replay's moment), with your "
            "guidance and its own budget",
            id="agent.branch",
        ),
        Binding(
            "C",
            "chart",
            "Chart",
            show=False,  # the palette and the README list it; the key bar stays two lines at 80 columns
            tooltip="Progress: the best verified PGR over agent-hours and dollars, for the team and each agent",
            id="open.chart",
        ),
    ]

    def __init__(self, model: RunModel) -> None:
        super().__init__(classes="-narrow")  # until the first resize says how much room there is
        self.model = model
        self.focused_name: str | None = None
        self._stale: dict[str, None] = {}
        """Agents whose pane waits to be redrawn, oldest first."""
        self._cards: dict[str, AgentCard] = {}
        """The agent panes by name (a DOM query per redraw costs more than the redraw under a flood)."""

    def compose(self) -> ComposeResult:
        # Kept by reference: these are redrawn after every batch, and a DOM query each time adds up under a flood.
        self._status_bar = StatusBar(self.model, id="status-bar")
        self._agent_list = AgentList(id="agent-list")
        self._focus_pane = TailPane(id="focus-pane")
        yield self._status_bar
        yield self._agent_list
        yield Grid(id="agent-grid")
        with Horizontal(id="bottom"):
            yield self._focus_pane
            yield ForumPanel(id="forum-panel")
            yield LeaderboardTable(id="board-panel", compact=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(LeaderboardTable).border_title = "leaderboard"
        self.refresh_views(Changes(roster=True, posts=True, board=True, status=True))
        self.set_interval(TICK_S, self._redraw_stale, name="redraw-stale")

    def on_resize(self) -> None:
        self._choose_layout()

    def _choose_layout(self) -> None:
        wide = fits_panes(self.size.width, self.size.height, len(self.model.agents))
        self.set_class(wide, "-wide")
        self.set_class(not wide, "-narrow")
        self._show_focus()

    @property
    def narrow(self) -> bool:
        return not self.has_class("-wide")

    # ------------------------------------------------------------ projecting the model

    def refresh_views(self, changes: Changes) -> None:
        """Redraw what ``changes`` touched; called by the app after each batch."""
        if not self.is_mounted or not self.is_attached:
            return
        if changes.roster:
            self._rebuild_cards()
        if self.focused_name is None and self.model.agents:
            self.focused_name = next(iter(self.model.agents))
            self._show_focus()
        self._stale.update(dict.fromkeys(changes.agents))
        if changes.agents or changes.roster:
            agent_list = self._agent_list
            agent_list.views = list(self.model.agents.values())
            agent_list.focused_name = self.focused_name
            agent_list.refresh(layout=changes.roster)
            if self.focused_name in changes.agents:
                self._focus_pane.refresh()
        if changes.posts:
            self.query_one(ForumPanel).show(self.model.posts, self.model.post_count)
        if changes.board:
            self.query_one(LeaderboardTable).show(self.model.leaderboard, self.model.references)
        if changes.status:
            self._status_bar.refresh()

    def _redraw_stale(self) -> None:
        for name in list(self._stale)[:CARDS_PER_TICK]:
            del self._stale[name]
            card = self._cards.get(name)
            if card is not None:
                card.refresh()

    def _rebuild_cards(self) -> None:
        """Give each newly registered agent a pane; agents are never removed, so existing panes stay as they are."""
        grid = self.query_one("#agent-grid", Grid)
        views = list(self.model.agents.values())
        grid.styles.grid_size_columns = _grid_columns(len(views))
        new = [AgentCard(v, i, id=f"card-{v.name}") for i, v in enumerate(views, 1) if v.name not in self._cards]
        self._cards.update((card.view.name, card) for card in new)
        if new:
            grid.mount_all(new)
        self._choose_layout()

    def _show_focus(self) -> None:
        for name, card in self._cards.items():
            card.set_class(name == self.focused_name, "-focused")
        self._agent_list.focused_name = self.focused_name
        self._agent_list.refresh()
        self._focus_pane.show(self.focused_view, "activity" if self.narrow else "sandbox")

    @property
    def focused_view(self) -> AgentView | None:
        return self.model.agents.get(self.focused_name) if self.focused_name else None

    # ------------------------------------------------------------ focus

    def action_focus_agent(self, number: int) -> None:
        names = self.model.agent_names()
        if 1 <= number <= len(names):
            self.focused_name = names[number - 1]
            self._show_focus()

    def focus_named(self, name: str) -> None:
        """Act on ``name`` from now on (the inbox jumps here)."""
        if name in self.model.agents:
            self.focused_name = name
            self._show_focus()

    def action_move(self, delta: int) -> None:
        names = self.model.agent_names()
        if not names:
            return
        index = names.index(self.focused_name) if self.focused_name in names else 0
        self.focused_name = names[(index + delta) % len(names)]
        self._show_focus()

    # ------------------------------------------------------------ commands

    def _target(self) -> str | None:
        if self.focused_name is None:
            self.notify("no agent to act on yet", severity="warning", markup=False)
        return self.focused_name

    def _send(self, command: Command, target: str) -> None:
        self.aar.send_command(command, target)

    def action_pause(self) -> None:
        if target := self._target():
            self._send(Pause(), target)

    def action_resume(self) -> None:
        if target := self._target():
            self._send(Resume(), target)

    def action_interrupt(self) -> None:
        if target := self._target():
            self._send(Interrupt(), target)

    def action_toggle_approval(self) -> None:
        if (target := self._target()) and (view := self.focused_view):
            self._send(ApprovalOff() if view.row.approval else ApprovalOn(), target)

    def action_redirect(self) -> None:
        if target := self._target():
            prompt = PromptScreen(
                f"Redirect {target}", placeholder="what it should do instead (read before its next model call)"
            )
            self.app.push_screen(prompt, self._redirect_to(target))

    def action_broadcast(self) -> None:
        prompt = PromptScreen(
            "Broadcast to every agent", placeholder="a message every agent reads before its next model call"
        )
        self.app.push_screen(prompt, self._redirect_to(ALL_AGENTS))

    def _redirect_to(self, target: str) -> Callable[[str | None], None]:
        def send(text: str | None) -> None:
            if text:  # Escape (None) and an empty line send nothing
                self._send(Redirect(text=text), target)

        return send

    def _if_confirmed(self, command: Command, target: str) -> Callable[[bool | None], None]:
        def send(yes: bool | None) -> None:
            if yes:
                self._send(command, target)

        return send

    def _pending(self) -> tuple[str, str, str] | None:
        view = self.focused_view
        call = view.oldest_pending() if view else None
        if view is None or call is None:
            who = f"{self.focused_name} has" if self.focused_name else "no agent yet, so"
            self.notify(f"{who} no tool call waiting for approval", severity="warning", markup=False)
            return None
        return view.name, call.call_id, call.tool

    def action_approve(self) -> None:
        if pending := self._pending():
            name, call_id, _ = pending
            self._send(Approve(call_id=call_id), name)

    def action_deny(self) -> None:
        if pending := self._pending():
            name, call_id, tool = pending
            prompt = PromptScreen(
                f"Deny {name}'s {tool} call: why?", placeholder="the reason the agent reads (optional)"
            )

            def answered(reason: str | None) -> None:
                if reason is not None:  # Escape leaves the call waiting; Enter on an empty line denies without a reason
                    self._send(Deny(call_id=call_id, reason=reason), name)

            self.app.push_screen(prompt, answered)

    def action_stop_agent(self) -> None:
        if target := self._target():
            question = f"Stop {target}? It finishes its current step and does not start another."
            self.app.push_screen(ConfirmScreen(question), self._if_confirmed(Stop(), target))

    def action_stop_run(self) -> None:
        question = f"Stop the whole run {self.model.run_id}? Every agent stops and the daemon exits."
        self.app.push_screen(ConfirmScreen(question), self._if_confirmed(StopRun(by="tui"), RUN_TARGET))

    # ------------------------------------------------------------ other screens

    def action_inspect(self) -> None:
        if target := self._target():
            from tui.screens.inspect import InspectScreen

            self.app.push_screen(InspectScreen(self.model.agents[target]))

    def action_forum(self, search: bool = False) -> None:
        from tui.screens.forum import ForumScreen

        self.app.push_screen(ForumScreen(search=search))

    def action_forum_search(self) -> None:
        self.action_forum(search=True)

    def action_leaderboard(self) -> None:
        from tui.screens.leaderboard import LeaderboardScreen

        self.app.push_screen(LeaderboardScreen(self.model))

    @work(group="digest", exclusive=True, exit_on_error=False)
    async def action_digest(self) -> None:
        from tui.screens.digest import DigestScreen

        await self.app.push_screen(DigestScreen(await self.aar.client.digest()))

    def action_inbox(self) -> None:
        from tui.screens.inbox import InboxScreen

        self.app.push_screen(InboxScreen())

    def action_budget(self) -> None:
        if not (target := self._target()):
            return
        from aar.budget_text import HELP, BadBudgetEntry, parse_budget

        def entered(text: str | None) -> None:
            if not text:
                return
            try:
                payload = parse_budget(text)
            except BadBudgetEntry as exc:
                self.notify(str(exc), severity="warning", markup=False)
                return
            self._send(payload, target)

        self.app.push_screen(PromptScreen(f"Change {target}'s budget", placeholder=HELP), entered)

    @work(group="review-open", exclusive=True, exit_on_error=False)
    async def action_review(self) -> None:
        from tui.screens.review import open_desk

        await open_desk(self.aar)

    @work(group="timeline-open", exclusive=True, exit_on_error=False)
    async def action_timeline(self) -> None:
        from tui.screens.timeline import open_timeline

        await open_timeline(self.aar)

    @work(group="branch-open", exclusive=True, exit_on_error=False)
    async def action_branch(self) -> None:
        if not (target := self._target()):
            return
        from tui.screens.branch_dialog import ask_branch

        mark = self.model.replay
        ask_branch(self, target, await self.aar.client.last_step(target, upto_id=mark.event_id if mark else None))

    def action_jobs(self) -> None:
        from tui.screens.jobs import JobsScreen

        self.app.push_screen(JobsScreen())

    def action_chart(self) -> None:
        from tui.screens.chart import ChartScreen

        self.app.push_screen(ChartScreen())
