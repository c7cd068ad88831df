"""The main screen's read-only panels: the focused agent's output, the forum, the status bar."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from aar.pulse import SILENT_S
from aar.store import PostRow
from tui.model import AgentView, Line, QueueCounts, ReplayMark, RunModel, Tail
from tui.renderables import data
from tui.text import dollars, one_line
from tui.widgets.line_view import LineView
from tui.widgets.lines import join_lines, status_text

PANE_CSS = """
    text-wrap: nowrap; text-overflow: ellipsis; border: round $panel-lighten-2;
    border-title-align: left; padding: 0 1; height: 1fr;
"""
"""The look of a titled, bordered read-only pane."""


class TailPane(LineView):
    """The newest lines of one tail, bottom-aligned; ``source`` picks the sandbox or all activity."""

    DEFAULT_CSS = f"TailPane {{ {PANE_CSS} }}"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: AgentView | None = None
        self.source = "sandbox"

    def show(self, view: AgentView | None, source: str) -> None:
        self.view, self.source = view, source
        name = view.name if view else "no agent"
        self.border_title = f"{name} · {'sandbox output' if source == 'sandbox' else 'activity'}"
        self.refresh()

    def _tail(self) -> Tail | None:
        if self.view is None:
            return None
        return self.view.sandbox if self.source == "sandbox" else self.view.tail

    def visible_lines(self, height: int) -> list[Text | Line]:
        tail = self._tail()
        if tail is None or len(tail) == 0:
            return [Text("nothing yet", style="dim")]
        return list(tail.last(height))


def post_head(post: PostRow, width_hint: int = 200) -> Text:
    """``#id author ↳#parent title ✓✗``; the supervisor's posts stand out, a quarantined one is struck through."""
    head = Text(f"#{post.id} ", style="bold", end="")
    if post.pinned:
        head.append("[pinned] ", style="bold yellow")
    head.append_text(data(post.author, "bold magenta" if post.author == "supervisor" else "bold"))
    if post.parent_id is not None:
        head.append(f" ↳#{post.parent_id}", style="dim")
    head.append(" ")
    head.append_text(data(one_line(post.title, width_hint)))
    if post.quarantined:
        head.stylize("strike dim")
        head.append(" [withheld]", style="bold red")
    head.append_text(claim_marks(post))
    return head


def claim_marks(post: PostRow) -> Text:
    """`` ✓2 ✗1``: how many of the post's numbers the evaluator's results verify and contradict."""
    marks = Text(end="")
    good = sum(c.verdict == "verified" for c in post.claims)
    bad = len(post.claims) - good
    if good:
        marks.append(f" ✓{good}", style="bold green")
    if bad:
        marks.append(f" ✗{bad}", style="bold red")
    return marks


def post_lines(posts: Iterable[PostRow], width_hint: int = 200) -> list[Text]:
    out = []
    for post in posts:
        out.append(post_head(post, width_hint))
        out.append(data("  " + one_line(post.body, width_hint), "dim"))
    return out


class ForumPanel(Widget):
    """The newest forum posts, live; ``f`` opens the forum to read, search and reply."""

    DEFAULT_CSS = f"ForumPanel {{ {PANE_CSS} }}"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.posts: list[PostRow] = []
        self.border_title = "forum"

    def show(self, posts: Iterable[PostRow], total: int) -> None:
        self.posts = list(posts)
        self.border_title = f"forum · {max(total, len(self.posts))} posts"
        self.refresh()

    def render(self) -> RenderResult:
        if not self.posts:
            return Text("no posts yet", style="dim")
        room = max(self.content_size.height // 2, 1)
        return join_lines(post_lines(self.posts[-room:]))


class StatusBar(Widget):
    """Run, state, the inbox badge, spend against the cap, the evaluator's queue and device: one line."""

    DEFAULT_CSS = """
    StatusBar {
        text-wrap: nowrap;
        text-overflow: ellipsis;
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    """

    def __init__(self, model: RunModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model

    def render(self) -> RenderResult:
        m = self.model
        line = Text(end="", no_wrap=True, overflow="ellipsis")
        line.append("aar ", style="bold")
        line.append_text(data(m.run_id, "bold"))
        line.append(" ")
        line.append_text(status_text(m.state or "connecting", self))
        if m.replay is not None:  # first after the state: the screen is the past, and must say so
            line.append(f" {replay_banner(m.replay)} ", style="bold reverse yellow")
        if m.unisolated:
            line.append(" UNISOLATED ", style="bold reverse red")
        silent = m.daemon_silent_s
        if silent is not None and silent >= SILENT_S and m.state in ("starting", "running", "stopping"):
            line.append(f" NOT RESPONDING {silent:.0f}s ", style="bold reverse red")
        if m.disk_low is not None:
            line.append(f" DISK FULL: free {m.disk_low.need_mb:.0f} MB ", style="bold reverse red")
        if m.inbox_open:  # early in the line: an 80-column terminal cuts its end
            line.append(" ")
            line.append(f" inbox {m.inbox_open} ", style="bold reverse")
        if m.problem:
            line.append_text(data(f" · ! {m.problem}", "bold red"))
        cap = f" of {dollars(m.dollar_cap)}" if m.dollar_cap else ""
        over = m.dollar_cap and m.spend >= m.dollar_cap
        line.append(f" · {dollars(m.spend)}{cap}", style="bold red" if over else "")
        if len(m.devices) > 1:
            line.append(f" · {_pool_text(m.queue, len(m.devices))}")
        else:
            line.append(f" · {_queue_text(m.queue)}" + (f" on {m.device}" if m.device else ""))
        if m.isolation:
            line.append_text(data(f" · sandbox {m.isolation}", "bold red" if "none" in m.isolation else ""))
        line.append(f" · {len(m.agents)} agents")
        log = m.log.last(1)
        if log:
            line.append_text(data(f" · {one_line(log[0].text, 80)}", "dim"))
        return line


def replay_banner(mark: ReplayMark) -> str:
    """``REPLAY 12-06 03:00:12 #123456 · L live``: the moment shown, in local time, and the way back."""
    when = datetime.fromtimestamp(mark.ts).strftime("%m-%d %H:%M:%S")
    return f"REPLAY {when} #{mark.event_id} · L live"


def _pool_text(q: QueueCounts, devices: int) -> str:
    """``eval 2/3 busy, 4 queued``: how many of the evaluator's devices run a job, and what waits."""
    parts = [f"{n} {what}" for n, what in ((q.queued, "queued"), (q.failed, "failed")) if n]
    return ", ".join([f"eval {min(q.running, devices)}/{devices} busy", *parts])


def _queue_text(q: QueueCounts) -> str:
    """``eval 1 running, 2 queued``: the evaluator's queue in the fewest words (``eval idle`` when empty)."""
    parts = [f"{n} {what}" for n, what in ((q.running, "running"), (q.queued, "queued"), (q.failed, "failed")) if n]
    return "eval " + (", ".join(parts) if parts else "idle")
