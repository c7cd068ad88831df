"""From stored transcript rows to the messages a model call sends.

The store keeps messages as they were committed: a step's assistant turn
and its tool results, and supervisor messages as user messages of their own.
The Messages API wants roles to alternate, so consecutive messages of one
role are merged into one (blocks concatenated, in order). Merging is a pure
function of the rows, so a resumed agent builds the same request, and it
only ever extends the last message, so earlier messages (and the prompt
cache's prefix) stay byte-identical from step to step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aar.config import ResolvedAgent
from aar.store.rows import MessageRow


def blocks(content: Any) -> list[dict[str, Any]]:
    """A message's content as a list of blocks."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content)


def tool_call_ids(rows: Iterable[MessageRow]) -> set[str]:
    """The ids of the tool calls committed in ``rows`` (``tool_use`` blocks of assistant messages, archived by
    a compaction or not): read from the blocks, so a message that quotes an id does not count."""
    return {
        str(block.get("id"))
        for row in rows
        if row.role in ("assistant", "archived:assistant")
        for block in blocks(row.content)
        if isinstance(block, dict) and block.get("type") == "tool_use"
    }


def merged(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with runs of one role joined into one message."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if out and out[-1]["role"] == message["role"]:
            out[-1] = {"role": message["role"], "content": blocks(out[-1]["content"]) + blocks(message["content"])}
        else:
            out.append(message)
    return out


def start_message(agent: ResolvedAgent) -> list[dict[str, Any]]:
    """The first user message of an agent's transcript."""
    text = (
        f"Start your research. Your starting direction: {agent.direction or 'anything the forum has not tried yet.'}\n"
        "Read task/README.md, the forum and the leaderboard first, then claim an idea on the forum before you run it."
    )
    return [{"type": "text", "text": text}]
