"""How model lines and agent statuses look: a symbol first, colour second (NO_COLOR stays readable)."""

from __future__ import annotations

from rich.text import Text

from aar.store import AgentRow
from tui.text import dollars, tokens

LINE_STYLES: dict[str, str] = {
    "text": "",
    "thinking": "italic dim",
    "tool": "bold cyan",
    "result": "green",
    "error": "bold red",
    "out": "",
    "err": "yellow",
    "status": "dim",
    "command": "bold magenta",
    "approval": "bold reverse yellow",
    "eval": "bold green",
}

STATUS_STYLES: dict[str, str] = {
    "thinking": "bold green",
    "running_tool": "bold cyan",
    "paused": "bold yellow",
    "waiting_approval": "bold reverse yellow",
    "idle": "dim",
    "finished": "dim",
    "stopped": "bold red",
    "out_of_budget": "bold red",
    "error": "bold reverse red",
    "no_daemon": "bold red",
}


def status_text(status: str) -> Text:
    """The status in upper case, so it reads without colour."""
    return Text(status.upper().replace("_", " "), style=STATUS_STYLES.get(status, ""), end="")


def usage_text(row: AgentRow) -> Text:
    used = row.input_tokens + row.output_tokens
    return Text(f"step {row.steps} · {tokens(used)} tok · {dollars(row.cost_usd)}", style="dim", end="")


def join_lines(lines: list[Text]) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    for i, line in enumerate(lines):
        if i:
            out.append("\n")
        out.append_text(line)
    return out
