"""One plain line per event, for ``--headless`` and logs (no markup, no colour)."""

from __future__ import annotations

import time
from typing import Any

from aar.store import EventRow

_MAX = 160


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX else text[: _MAX - 1] + "…"


def _summary(kind: str, p: dict[str, Any]) -> str:
    match kind:
        case "run.state":
            return f"run {p['state']}" + (f": {p['reason']}" if p.get("reason") else "")
        case "agent.status":
            return f"status {p['status']}" + (f" ({p['detail']})" if p.get("detail") else "")
        case "agent.step":
            return f"step {p['step']} done: {p['input_tokens']} in / {p['output_tokens']} out, ${p['cost_usd']:.4f}"
        case "model.text":
            return f"says: {p['text']}"
        case "tool.call":
            return f"calls {p['tool']} {p['input']}"
        case "tool.result":
            return f"{p['tool']} {'ok' if p['ok'] else 'ERROR'}: {p['output']}"
        case "sandbox.output":
            return f"{p['stream']}: {p['text']}"
        case "sandbox.exit":
            return (
                f"command exited {p['exit_code']}"
                + (" (timed out)" if p.get("timed_out") else "")
                + (" (killed)" if p.get("killed") else "")
            )
        case "forum.post":
            return f"posted #{p['post_id']}: {p['title']}"
        case "eval.result":
            pgr = "n/a" if p.get("pgr") is None else f"{p['pgr']:.3f} [{p['ci_low']:.3f}, {p['ci_high']:.3f}]"
            return f"scored submission {p.get('submission_id')}: PGR {pgr}" + (
                f" flags {p['flags']}" if p.get("flags") else ""
            )
        case "eval.job":
            return f"eval job {p['job_id']} ({p['job_kind']}) {p['status']}" + (
                f": {p['detail']}" if p.get("detail") else ""
            )
        case "command.applied":
            return f"{p['command']} -> {p['target']}: {p['effect']}"
        case "agent.ask":
            return f"asks the supervisor ({p.get('call_id', '')}): {p['question']}"
        case "log" | "error":
            return p.get("message", "")
        case _:
            return " ".join(f"{k}={v}" for k, v in p.items() if k != "kind")


def one_line(row: EventRow) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(row.ts))
    who = row.agent or "-"
    return f"{stamp} {who:<10} {row.kind:<18} {_clip(_summary(row.kind, row.payload))}"
