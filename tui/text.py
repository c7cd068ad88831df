"""Turning run data into safe, compact text.

Everything an agent, a sandbox or a forum post produced is *data*: it is
never parsed as markup and its control characters never reach the terminal.
``visible`` (``aar.escape``, shared with every CLI surface) rewrites control
characters (ANSI escapes included) as literal ``\\x1b``-style text. Everything
here is plain ``str``: no Textual, no Rich (an import-linter contract holds
that), so the model and the service use it too; ``tui.renderables`` turns it
into Rich text for the widgets.
"""

from __future__ import annotations

from aar.describe import pgr
from aar.escape import MAX_LINE, clip, one_line, visible
from aar.eval_jobs import JobStats

__all__ = ["MAX_LINE", "clip", "dollars", "one_line", "pgr", "throughput_line", "tokens", "visible"]


def tokens(n: int) -> str:
    """12 -> ``12``, 12_345 -> ``12.3k``, 4_500_000 -> ``4.5M``."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def dollars(x: float) -> str:
    return f"${x:.2f}" if x >= 0.995 or x == 0 else f"${x:.3f}"


def throughput_line(stats: JobStats) -> str:
    """``812 ex/s · 41.2k tok/s · pad 9% · 1.2 GB cuda · MFU 38%`` from a job's stats ('' when it trained nothing)."""
    if not stats.examples:
        return ""
    parts = [f"{stats.examples_per_s:.0f} ex/s", f"{_si(stats.tokens_per_s)} tok/s"]
    parts.append(f"pad {stats.padding_share:.0%}")
    parts.append(f"{stats.peak_memory_mb / 1024:.1f} GB {stats.memory_kind}".rstrip())
    if stats.mfu is not None:
        parts.append(f"MFU {stats.mfu:.0%}")
    return " · ".join(parts)


def _si(value: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f}{unit}"
    return f"{value:.0f}"
