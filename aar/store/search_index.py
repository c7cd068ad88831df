"""Full-text search over what every agent thought, the tools it called, what they returned, and the forum.

One FTS5 table, ``search_fts``: one row per block of a transcript message (an
assistant's text or thinking, a ``tool_use`` with its input, a ``tool_result``
with its output as the agent saw it) and one per post. Transcripts are indexed
rather than the event stream: a message is whole there, where streamed text is
cut in chunks, and a hit names the step that opens the transcript at it.

Posts are indexed by a trigger, in the transaction that writes them. Transcripts
are folded in batches by the daemon's search task (``FOLD``, from the cursor in
``meta``), a second or two behind: a trigger per step cost the store's writes
1.45x, a batch of steps costs them nothing and indexes for a third of that work.
The index is derived: ``ensure`` rebuilds it from the store when it is missing.

Queries use FTS5's syntax (``heldout``, ``"weak_labels.npy"``, ``canary NOT test``);
one it cannot parse is refused in one line that says how to quote it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal, get_args

SearchKind = Literal["thinking", "tool_call", "output", "post"]
SEARCH_KINDS: tuple[str, ...] = get_args(SearchKind)

TABLE = """
CREATE VIRTUAL TABLE search_fts USING fts5 (
    text, agent UNINDEXED, kind UNINDEXED, step UNINDEXED, ref UNINDEXED, ts UNINDEXED
)
"""


def _blocks(row: str) -> str:
    """The index rows of the transcript row ``row`` (``new`` in a trigger, a table alias in a backfill)."""
    return f"""
    SELECT CASE json_extract(b.value, '$.type')
             WHEN 'text' THEN json_extract(b.value, '$.text')
             WHEN 'thinking' THEN json_extract(b.value, '$.thinking')
             WHEN 'tool_use' THEN json_extract(b.value, '$.name') || ' ' || json_extract(b.value, '$.input')
             ELSE CASE json_type(b.value, '$.content')
                    WHEN 'text' THEN json_extract(b.value, '$.content')
                    ELSE (SELECT group_concat(json_extract(c.value, '$.text'), char(10))
                            FROM json_each(b.value, '$.content') AS c)
                  END
           END,
           {row}.agent,
           CASE json_extract(b.value, '$.type')
             WHEN 'tool_use' THEN 'tool_call' WHEN 'tool_result' THEN 'output' ELSE 'thinking'
           END,
           {row}.step, {row}.id, {row}.ts
      FROM json_each({row}.content) AS b
     WHERE json_type({row}.content) = 'array'
       AND (json_extract(b.value, '$.type') IN ('tool_use', 'tool_result')
            OR (json_extract(b.value, '$.type') IN ('text', 'thinking') AND {row}.role LIKE '%assistant'))
    """


COLUMNS = "text, agent, kind, step, ref, ts"
CURSOR = "search_cursor"
"""The ``meta`` key of the last transcript row folded into the index."""
POST_TRIGGER = f"""
CREATE TRIGGER forum_posts_search AFTER INSERT ON forum_posts BEGIN
    INSERT INTO search_fts ({COLUMNS}) VALUES (new.title || char(10) || new.body, new.author, 'post', NULL, new.id, new.ts);
END
"""
FOLD = (
    f"""
INSERT INTO search_fts ({COLUMNS}) {_blocks("t")}
""".replace("FROM json_each(t.content)", "FROM transcripts AS t, json_each(t.content)")
    + " AND t.id > ? AND t.id <= ?"
)
"""Index the transcript rows with ``lo < id <= hi``."""
CREATE = f"""
{TABLE};
{POST_TRIGGER};
INSERT INTO search_fts ({COLUMNS}) SELECT title || char(10) || body, author, 'post', NULL, id, ts FROM forum_posts;
INSERT INTO meta (key, value) VALUES ('{CURSOR}', '0') ON CONFLICT (key) DO UPDATE SET value = '0';
"""
"""The index with every post in it, its transcripts to fold from the first (migration 8 -> 9, and ``ensure``)."""
REBUILD = f"DROP TRIGGER IF EXISTS forum_posts_search; {CREATE}"

SNIPPET_TOKENS = 16


@dataclass(frozen=True)
class SearchHit:
    """One match: whose, what kind, where (the transcript row and step, or the post id), when, and a snippet
    with the matched words between ``[`` and ``]`` (agent text: escape it where it is shown)."""

    agent: str
    kind: SearchKind
    step: int | None
    ref: int
    ts: float
    snippet: str


class SearchQueryError(ValueError):
    """A query FTS5 cannot parse."""


def query_sql(*, agent: str | None, kind: str | None) -> str:
    where = ["search_fts MATCH ?"]
    if agent is not None:
        where.append("agent = ?")
    if kind is not None:
        where.append("kind = ?")
    return (
        f"SELECT agent, kind, step, ref, ts, snippet(search_fts, 0, '[', ']', '…', {SNIPPET_TOKENS}) AS snippet "
        f"FROM search_fts WHERE {' AND '.join(where)} ORDER BY rowid DESC LIMIT ?"
    )


def hit(row: sqlite3.Row) -> SearchHit:
    step = row["step"]
    return SearchHit(
        agent=str(row["agent"]),
        kind=row["kind"],
        step=None if step is None else int(step),
        ref=int(row["ref"]),
        ts=float(row["ts"]),
        snippet=str(row["snippet"] or ""),
    )


def refused(query: str, exc: sqlite3.Error) -> SearchQueryError:
    """The one line for a query FTS5 refused."""
    said = str(exc).removeprefix("fts5: ")
    return SearchQueryError(
        f"cannot search for {query!r}: {said}; put words in double quotes to search for them as written "
        "(for example '\"weak_labels.npy\"')"
    )
