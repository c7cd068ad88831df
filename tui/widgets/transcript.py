"""A transcript message (Anthropic content blocks) as lines of plain, escaped text."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from aar.store import MessageRow
from tui.text import MAX_LINE, visible

MAX_BLOCK_LINES = 200
"""Lines shown of one text block or tool result; the store keeps them all."""


def _line(raw: str, style: str) -> Text:
    """One line, cut at ``MAX_LINE`` characters: a megabyte on one line would wrap into thousands of rows."""
    out = Text("  " + visible(raw[:MAX_LINE]), style=style)
    if len(raw) > MAX_LINE:
        out.append(f"… ({len(raw) - MAX_LINE:,} more characters in the store)", style="dim")
    return out


def _body(text: str, style: str = "") -> list[Text]:
    """The first ``MAX_BLOCK_LINES`` lines; only those are made visible (a tool result can be megabytes)."""
    parts = text.replace("\r\n", "\n").replace("\r", "\n").split("\n", MAX_BLOCK_LINES)
    more = parts.pop().count("\n") + 1 if len(parts) > MAX_BLOCK_LINES else 0
    shown = [_line(part, style) for part in parts]
    if more:
        shown.append(Text(f"  … {more} more lines in the store", style="dim"))
    return shown


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", json.dumps(b)) if isinstance(b, dict) else str(b) for b in content)
    return json.dumps(content, ensure_ascii=False)


def _block(block: Any) -> list[Text]:
    if not isinstance(block, dict):
        return _body(str(block))
    kind = block.get("type")
    if kind == "text":
        return _body(block.get("text", ""))
    if kind == "thinking":
        return [Text("  (thinking)", style="italic dim"), *_body(block.get("thinking", ""), "italic dim")]
    if kind == "tool_use":
        head = Text(f"  → {visible(str(block.get('name')))} ", style="bold cyan")
        head.append(f"[{visible(str(block.get('id', '')))}]", style="dim")
        return [head, *_body(json.dumps(block.get("input", {}), indent=2, ensure_ascii=False), "cyan")]
    if kind == "tool_result":
        error = bool(block.get("is_error"))
        head = Text("  ← result " + ("ERROR " if error else "ok "), style="bold red" if error else "bold green")
        head.append(f"[{visible(str(block.get('tool_use_id', '')))}]", style="dim")
        return [head, *_body(_result_text(block.get("content", "")), "red" if error else "")]
    return _body(json.dumps(block, ensure_ascii=False))


def message_lines(message: MessageRow) -> list[Text]:
    """A header (step, role) then each block; compacted history is marked as such."""
    archived = message.role.startswith("archived:")
    role = message.role.removeprefix("archived:")
    head = Text(
        f"── step {message.step} · {role}" + (" (compacted away)" if archived else "") + " ──",
        style="bold dim" if archived else "bold",
    )
    content = message.content
    blocks = (
        [{"type": "text", "text": content}]
        if isinstance(content, str)
        else content
        if isinstance(content, list)
        else [content]
    )
    lines = [head]
    for block in blocks:
        try:
            lines.extend(_block(block))
        except Exception as exc:  # a block of a shape this view does not know (null text, a newer SDK's) is shown raw
            lines.append(Text(f"  (a block this view cannot lay out: {type(exc).__name__}; shown raw)", style="dim"))
            lines.extend(_body(repr(block)))
    return lines
