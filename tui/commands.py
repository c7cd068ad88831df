"""The command palette's "Noun: Verb" entries: every action of the current screen, by name.

Each entry runs the same action as its key, so the palette and the footer
can never disagree about what a command does.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

PALETTE: dict[str, tuple[tuple[str, str, str], ...]] = {
    "MainScreen": (
        ("Agent: Pause", "pause", "Pause the focused agent after its current step (p)"),
        ("Agent: Resume", "resume", "Resume the focused agent (r)"),
        ("Agent: Redirect", "redirect", "Send the focused agent a message it reads before its next model call (m)"),
        ("Agent: Interrupt", "interrupt", "Kill the focused agent's running sandbox command (i)"),
        ("Agent: Approve tool call", "approve", "Let the focused agent's pending tool call run (a)"),
        ("Agent: Deny tool call", "deny", "Refuse the focused agent's pending tool call, with a reason (d)"),
        (
            "Agent: Toggle approval mode",
            "toggle_approval",
            "Make the focused agent's tool calls wait for approval, or stop that (A)",
        ),
        ("Agent: Stop", "stop_agent", "Stop the focused agent, after confirming (s)"),
        (
            "Agent: Inspect",
            "inspect",
            "The focused agent's transcript, tool calls, tokens and workspace files (enter / t)",
        ),
        ("Agent: Next", "move(1)", "Focus the next agent (→ / ↓)"),
        ("Agent: Previous", "move(-1)", "Focus the previous agent (← / ↑)"),
        ("Team: Broadcast", "broadcast", "Send every agent a message (b)"),
        ("Run: Stop", "stop_run", "Stop the whole run, after confirming (S / ctrl+x)"),
        ("Forum: Open", "forum", "Read the forum and reply as the supervisor (f)"),
        ("Forum: Search", "forum_search", "Search the forum (/)"),
        ("Leaderboard: Open", "leaderboard", "Every scored submission with its PGR and flags (l)"),
        ("Evaluator: Jobs", "jobs", "The evaluator's queue: baselines and submissions (e)"),
        ("Inbox: Open", "inbox", "What needs you: approvals, questions, alerts, ranked (I)"),
        ("Agent: Change budget", "budget", "Raise, lower or move the focused agent's budget ($)"),
    ),
    "InboxScreen": (
        ("Inbox: Go to", "go", "The agent, post, submission or job of the chosen item (enter)"),
        ("Inbox: Answer / approve", "answer", "Answer the chosen question, or approve the chosen tool call (a)"),
        ("Inbox: Deny", "deny", "Deny the chosen tool call, with a reason (d)"),
        ("Inbox: Acknowledge", "acknowledge", "Mark the chosen item seen; who and when are recorded (x)"),
        ("Inbox: Back", "app.pop_screen", "Back to the agents (escape / I)"),
    ),
    "ForumScreen": (
        ("Forum: Reply", "reply", "Reply to the chosen post as the supervisor (r)"),
        ("Forum: New post", "new_post", "Start a thread as the supervisor (n)"),
        ("Forum: Search", "search", "Search the forum (/)"),
        ("Forum: Back", "back", "Every post again, or back to the agents (escape)"),
    ),
    "InspectScreen": (
        ("Workspace: Reload files", "reload_files", "List the agent's workspace files again (w)"),
        ("Inspect: Switch pane", "app.focus_next", "Move between the transcript, the files and the file (tab)"),
        ("Inspect: Back", "app.pop_screen", "Back to the agents (escape)"),
    ),
    "LeaderboardScreen": (("Leaderboard: Back", "app.pop_screen", "Back to the agents (escape / l)"),),
    "JobsScreen": (("Evaluator: Back", "app.pop_screen", "Back to the agents (escape / e)"),),
}
APP_COMMANDS = (("Run: Detach", "app.detach", "Leave the TUI; the run keeps going (q)"),)


class AarCommands(Provider):
    """Palette entries for the screen it was opened from, one per agent to focus, plus detaching."""

    def _commands(self) -> list[tuple[str, str, str]]:
        screen = type(self.screen).__name__
        return [*PALETTE.get(screen, ()), *(self._focus_commands() if screen == "MainScreen" else ()), *APP_COMMANDS]

    def _focus_commands(self) -> list[tuple[str, str, str]]:
        names = self.screen.model.agent_names()  # type: ignore[attr-defined]
        return [
            (
                f"Agent: Focus {name}",
                f"focus_agent({i})",
                f"Act on {name} from now on" + (f" ({i})" if i <= 9 else " (arrows)"),
            )
            for i, name in enumerate(names, 1)
        ]

    def _callback(self, action: str):  # type: ignore[no-untyped-def]
        if action.startswith("app."):
            return partial(self.app.run_action, action.removeprefix("app."))
        return partial(self.screen.run_action, action)

    async def discover(self) -> Hits:
        for title, action, help_text in self._commands():
            yield DiscoveryHit(title, self._callback(action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), self._callback(action), help=help_text)
