"""The forum: every post live, a thread to read, search, replies as the supervisor, and moderation.

``x`` quarantines the chosen post (asks why: the agents read the reason in its
place), ``u`` restores it, ``P`` pins or unpins it (pinned posts are what every
agent reads first). Each is a command the daemon applies; the post stays in
the store and shows struck through. The claims the daemon checked are shown
beside each post (✓ verified, ✗ contradicted) and listed under it in the thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, OptionList, RichLog
from textual.widgets.option_list import Option

from aar.commands import RUN_TARGET, PinPost, QuarantinePost, RestorePost
from aar.store import PostRow
from tui.model import POSTS_KEPT, Changes
from tui.renderables import data
from tui.screens.base import RunScreen
from tui.screens.dialogs import ComposeScreen, PromptScreen
from tui.text import one_line, visible
from tui.widgets.key_bar import KeyBar
from tui.widgets.panels import post_head


def _option(post: PostRow) -> Option:
    return Option(post_head(post, 100), id=str(post.id))


def _split(text: str) -> tuple[str, str]:
    """A composed post: its first line is the title, the rest (or the line itself) the body."""
    first, _, rest = text.partition("\n")
    return first.strip()[:120], rest.strip() or first.strip()


class ForumScreen(RunScreen):
    CSS_PATH = "forum.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", tooltip="Every post again, or back to the agents", id="forum.back"),
        Binding("slash", "search", "Search", tooltip="Search the forum", id="forum.search"),
        Binding("r", "reply", "Reply", tooltip="Reply to the chosen post as the supervisor", id="forum.reply"),
        Binding("n", "new_post", "New post", tooltip="Start a thread as the supervisor", id="forum.new"),
        Binding(
            "x",
            "quarantine",
            "Quarantine",
            tooltip="Withhold the chosen post from the agents, with a reason",
            id="forum.quarantine",
        ),
        Binding("u", "restore", "Restore", tooltip="Give a quarantined post back to the agents", id="forum.restore"),
        Binding(
            "P", "pin", "Pin/unpin", tooltip="Pin or unpin the chosen post: every agent reads it first", id="forum.pin"
        ),
    ]

    def __init__(self, *, search: bool = False) -> None:
        super().__init__()
        self.start_in_search = search
        self.searching = False
        self.selected: int | None = None
        self.newest_listed = 0
        """Id of the newest post in the unfiltered list; newer ones are appended as they arrive."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search the forum (enter), escape to go back to every post", id="forum-search")
        with Horizontal(id="forum-body"):
            yield OptionList(id="post-list")
            yield RichLog(id="thread", wrap=True, markup=False, max_lines=5000)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#thread").border_title = "thread"
        self._list(list(self.aar.model.posts))
        if self.start_in_search:
            self.query_one("#forum-search", Input).focus()
        else:
            self.query_one("#post-list", OptionList).focus()

    def refresh_views(self, changes: Changes) -> None:
        """New posts appear at once, unless a search result is on screen; the list keeps the newest ``POSTS_KEPT``."""
        if changes.revised and not self.searching:
            self._relist()
            if self.selected is not None:
                self.show_thread(self.selected)
            return
        if changes.posts and not self.searching:
            options = self.query_one("#post-list", OptionList)
            options.add_options(_option(p) for p in self.aar.model.posts if p.id > self.newest_listed)
            self.newest_listed = max(self.newest_listed, self.aar.model.posts[-1].id if self.aar.model.posts else 0)
            for _ in range(options.option_count - POSTS_KEPT):
                options.remove_option_at_index(0)
            self._title()

    def _relist(self) -> None:
        """Draw every listed post again (their moderation or claims changed), keeping the highlight."""
        options = self.query_one("#post-list", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options(_option(p) for p in self.aar.model.posts)
        if highlighted is not None and options.option_count:
            options.highlighted = min(highlighted, options.option_count - 1)

    def _list(self, posts: list[PostRow]) -> None:
        options = self.query_one("#post-list", OptionList)
        options.clear_options()
        options.add_options(_option(p) for p in posts)
        if posts:
            options.highlighted = len(posts) - 1
        if not self.searching:
            self.newest_listed = max((p.id for p in posts), default=0)
        self._title(len(posts))

    def _title(self, matching: int = 0) -> None:
        """``N matching`` for a search; else how many posts there are, and that only the newest are listed."""
        model = self.aar.model
        shown = self.query_one("#post-list", OptionList).option_count
        total = max(model.post_count, shown)
        title = (
            f"{matching} matching"
            if self.searching
            else f"posts · newest {shown} of {total}"
            if total > shown
            else f"{total} posts"
        )
        self.query_one("#post-list").border_title = title

    @on(Input.Submitted, "#forum-search")
    def search_submitted(self, event: Input.Submitted) -> None:
        self.run_search(event.value)

    @work(group="forum-search", exclusive=True, exit_on_error=False)
    async def run_search(self, query: str) -> None:
        self.searching = bool(query.strip())
        posts = await self.aar.client.search_posts(query) if self.searching else list(self.aar.model.posts)
        self._list(posts)
        self.query_one("#post-list", OptionList).focus()

    @on(OptionList.OptionHighlighted, "#post-list")
    @on(OptionList.OptionSelected, "#post-list")
    def post_chosen(self, event: OptionList.OptionHighlighted | OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.selected = int(event.option.id)
            self.show_thread(self.selected)

    @work(group="forum-thread", exclusive=True, exit_on_error=False)
    async def show_thread(self, post_id: int) -> None:
        thread = await self.aar.client.thread(post_id)
        log = self.query_one("#thread", RichLog)
        log.clear()
        for post in thread:
            head = Text(f"#{post.id} ", style="bold reverse" if post.id == post_id else "bold")
            head.append_text(data(post.author, "bold magenta" if post.author == "supervisor" else "bold"))
            head.append(" · ")
            head.append_text(data(one_line(post.title, 200), "bold"))
            struck = "strike dim" if post.quarantined else ""
            if struck:
                head.stylize(struck)
            log.write(head)
            if post.quarantined:
                log.write(data(f"  withheld from the agents: {one_line(post.moderation, 300)}", "bold red"))
            if post.pinned:
                log.write(Text("  pinned: every agent reads it first", style="bold yellow"))
            for line in visible(post.body).split("\n"):
                log.write(Text("  " + line, style=struck))
            for claim in post.claims:
                log.write(
                    data(f"  {claim.describe(post.author)}", "green" if claim.verdict == "verified" else "bold red")
                )
            log.write(Text(""))

    def action_search(self) -> None:
        self.query_one("#forum-search", Input).focus()

    def action_back(self) -> None:
        search = self.query_one("#forum-search", Input)
        if search.has_focus or self.searching:
            search.value = ""
            self.run_search("")
        else:
            self.app.pop_screen()

    def action_reply(self) -> None:
        if self.selected is None:
            self.notify("choose a post to reply to", severity="warning", markup=False)
            return
        parent = self.selected
        self.app.push_screen(ComposeScreen(f"Reply to #{parent} as supervisor"), self._post_to(parent))

    def action_new_post(self) -> None:
        self.app.push_screen(ComposeScreen("New post as supervisor"), self._post_to(None))

    def _post_to(self, parent_id: int | None) -> Callable[[str | None], None]:
        def composed(text: str | None) -> None:
            if text:  # Escape (None) posts nothing
                self.send(text, parent_id)

        return composed

    def _chosen(self) -> PostRow | None:
        post = next((p for p in self.aar.model.posts if p.id == self.selected), None)
        if post is None:
            self.notify("choose a post first", severity="warning", markup=False)
        return post

    def action_quarantine(self) -> None:
        post = self._chosen()
        if post is None:
            return

        def quarantine(reason: str | None) -> None:
            if reason:
                self.aar.send_command(QuarantinePost(post_id=post.id, reason=reason), RUN_TARGET)

        self.app.push_screen(
            PromptScreen(f"Quarantine #{post.id}: why? (the agents read this instead of the post)"), quarantine
        )

    def action_restore(self) -> None:
        post = self._chosen()
        if post is not None:
            self.aar.send_command(RestorePost(post_id=post.id), RUN_TARGET)

    def action_pin(self) -> None:
        post = self._chosen()
        if post is not None:
            self.aar.send_command(PinPost(post_id=post.id, pinned=not post.pinned), RUN_TARGET)

    @work(group="forum-post", exit_on_error=False)
    async def send(self, text: str, parent_id: int | None) -> None:
        title, body = _split(text)
        post_id = await self.aar.client.post(title, body, parent_id=parent_id)
        self.notify(f"posted #{post_id} as supervisor", markup=False)
