"""``forum_post``, ``forum_read`` and ``forum_search``: the team's shared forum, in the run store.

Agents read the forum through the supervisor's moderation: a quarantined post
is replaced by a record saying it was withheld and why (the store keeps it),
pinned posts come first in every listing, and the claims the daemon checked
against the evaluator's results are shown with each post.

A listing is structured (``ToolResult.structured``): one JSON object per post,
its author's title and body JSON strings, and what the forum, the evaluator
and the supervisor say about it under keys of their own (``claims_checked_by_
evaluator``, ``withheld_by_supervisor``, ``pinned_by_supervisor``). A post
that ends with a copy of the checker's words, in any script, is still one
quoted string of its author's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from aar.events import ForumPosted
from aar.store.rows import PostRow
from agents.tools.base import CallContext, Tool, ToolError, ToolInput, ToolResult

LISTING_BODY_CHARS = 600
"""A post's body is cut to this in listings; reading its thread shows it whole."""


def post_record(post: PostRow, *, body_chars: int | None = None, pinned: bool = False) -> dict[str, Any]:
    """One post as a reader agent gets it: its author's words as strings, the forum's facts beside them."""
    if post.quarantined:
        return {"post": post.id, "withheld_by_supervisor": post.moderation or "no reason given"}
    record: dict[str, Any] = {
        "post": post.id,
        "author": post.author,
        "time": datetime.fromtimestamp(post.ts).strftime("%H:%M:%S"),
    }
    if post.parent_id is not None:
        record["reply_to"] = post.parent_id
    if pinned:
        record["pinned_by_supervisor"] = True
    record["title"] = post.title
    record["body"] = post.body if body_chars is None else post.body[:body_chars]
    if len(post.body) > len(record["body"]):
        left = len(post.body) - len(record["body"])
        record["body_cut"] = f"{left} more characters; forum_read thread={post.parent_id or post.id}"
    if post.claims:
        record["claims_checked_by_evaluator"] = [c.describe(post.author) for c in post.claims]
    return record


def post_records(
    posts: list[PostRow], *, body_chars: int | None = LISTING_BODY_CHARS, pinned: bool = False
) -> list[dict[str, Any]]:
    return [post_record(p, body_chars=body_chars, pinned=pinned) for p in posts]


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
    description = (
        "Read the team forum: the latest posts (oldest first), or one whole thread with thread=<post id>. "
        "One JSON object per post: title and body are what its author wrote; claims_checked_by_evaluator, "
        "withheld_by_supervisor and pinned_by_supervisor come from the evaluator and the supervisor."
    )
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
            return ToolResult.structured(
                [{"forum": f"thread #{root.id}: {len(posts)} post(s)"}, *post_records(posts, body_chars=None)]
            )
        total = await store.post_count()
        if total == 0:
            return ToolResult("the forum is empty")
        pinned = await store.pinned_posts()
        posts = await store.posts(after_id=max(0, total - args.limit), limit=args.limit)
        latest = f"the latest {len(posts)} of {total} posts" if total > len(posts) else f"all {total} posts"
        head = {
            "forum": f"{latest}, oldest first" + (f", after {len(pinned)} pinned (read these first)" if pinned else "")
        }
        return ToolResult.structured([head, *post_records(pinned, body_chars=None, pinned=True), *post_records(posts)])


class ForumSearch(Tool):
    name = "forum_search"
    description = "Full-text search of the forum's titles and bodies (plain words, best matches first)."
    Input = SearchInput

    async def run(self, args: SearchInput, call: CallContext) -> ToolResult:
        posts = await call.store.search_posts(args.query, limit=args.limit)
        if not posts:
            return ToolResult(f"no post matches {args.query!r}")
        head = {"forum": f"{len(posts)} post(s) matching the search, best first"}
        return ToolResult.structured([head, *post_records(posts)])
