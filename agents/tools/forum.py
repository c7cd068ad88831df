"""``forum_post``, ``forum_read`` and ``forum_search``: the team's shared forum, in the run store.

Agents read the forum through the supervisor's moderation: a quarantined post
is replaced by one line saying it was withheld and why (the store keeps it),
pinned posts come first in every listing, and the claims the daemon checked
against the evaluator's results are shown under each post.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from aar.events import ForumPosted
from aar.store.rows import PostRow
from agents.tools.base import CallContext, Tool, ToolError, ToolInput, ToolResult

LISTING_BODY_CHARS = 600
"""A post's body is cut to this in listings; reading its thread shows it whole."""


def format_post(post: PostRow, *, body_chars: int | None = None) -> str:
    if post.quarantined:
        return f"post #{post.id} withheld by the supervisor: {post.moderation or 'no reason given'}"
    when = datetime.fromtimestamp(post.ts).strftime("%H:%M:%S")
    reply = f" (reply to #{post.parent_id})" if post.parent_id is not None else ""
    body = post.body
    if body_chars is not None and len(body) > body_chars:
        body = body[:body_chars] + f" … [cut; forum_read thread={post.parent_id or post.id} shows it all]"
    checked = ""
    if post.claims:
        checked = (
            "\n[claims checked against the evaluator: " + "; ".join(c.describe(post.author) for c in post.claims) + "]"
        )
    return f"#{post.id} {post.author}{reply} {when}: {post.title}\n{body}{checked}"


def format_posts(posts: list[PostRow], *, body_chars: int | None = LISTING_BODY_CHARS) -> str:
    return "\n\n".join(format_post(p, body_chars=body_chars) for p in posts)


class PostInput(ToolInput):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    """A short title; start a claim with "Claim:" and a result with "Result:"."""
    body: Annotated[str, Field(min_length=1, max_length=20_000)]
    """The post: configuration, evaluator numbers (PGR, interval, submission id), what it means."""
    reply_to: int | None = None
    """Id of the post this replies to (keeps an idea and its results in one thread)."""


class ReadInput(ToolInput):
    thread: int | None = None
    """A post id: show that thread (the first post and all replies) in full. Omit for the latest posts."""
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    """How many of the latest posts to show."""


class SearchInput(ToolInput):
    query: Annotated[str, Field(min_length=1, max_length=500)]
    """Words to look for in titles and bodies."""
    limit: Annotated[int, Field(ge=1, le=50)] = 10


class ForumPost(Tool):
    name = "forum_post"
    description = (
        "Post to the team forum (everyone, including the supervisor, reads it). Reply in a thread with reply_to."
    )
    Input = PostInput

    async def run(self, args: PostInput, call: CallContext) -> ToolResult:
        if args.reply_to is not None and await call.store.post(args.reply_to) is None:
            raise ToolError(f"there is no post #{args.reply_to} to reply to; forum_read lists the posts")
        post_id = await call.store.add_post(call.agent, args.title.strip(), args.body, parent_id=args.reply_to)
        call.store.emit(call.agent, ForumPosted(post_id=post_id, title=args.title.strip(), parent_id=args.reply_to))
        return ToolResult(f"posted #{post_id}")


class ForumRead(Tool):
    name = "forum_read"
    description = "Read the team forum: the latest posts (oldest first), or one whole thread with thread=<post id>."
    Input = ReadInput

    async def run(self, args: ReadInput, call: CallContext) -> ToolResult:
        store = call.store
        if args.thread is not None:
            post = await store.post(args.thread)
            if post is None:
                raise ToolError(f"there is no post #{args.thread}")
            root = await store.post(post.parent_id) if post.parent_id is not None else post
            root = root or post
            posts = [root, *await store.posts(parent_id=root.id, limit=500)]
            return ToolResult(format_posts(posts, body_chars=None))
        total = await store.post_count()
        if total == 0:
            return ToolResult("the forum is empty")
        pinned = await store.pinned_posts()
        posts = await store.posts(after_id=max(0, total - args.limit), limit=args.limit)
        head = f"{total} posts in all; the latest {len(posts)}:\n\n" if total > len(posts) else ""
        if pinned:
            head = f"Pinned by the supervisor (read these first):\n\n{format_posts(pinned, body_chars=None)}\n\n---\n\n{head}"
        return ToolResult(head + format_posts(posts))


class ForumSearch(Tool):
    name = "forum_search"
    description = "Full-text search of the forum's titles and bodies (plain words, best matches first)."
    Input = SearchInput

    async def run(self, args: SearchInput, call: CallContext) -> ToolResult:
        posts = await call.store.search_posts(args.query, limit=args.limit)
        if not posts:
            return ToolResult(f"no post matches {args.query!r}")
        return ToolResult(format_posts(posts))
