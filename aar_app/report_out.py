"""Where ``aar report`` writes what: the report to stdout or to ``--out``, and the progress chart beside it.

- ``json``: the report (with its ``progress`` series), to stdout or ``--out``.
- ``md``: with ``--out PATH``, the report to PATH and the chart to PATH's stem + ``-chart.svg`` beside it,
  linked by its name (the two travel together); printed, the chart goes to the run's ``report/chart.svg``,
  linked by its absolute path.
- ``html``: one self-contained page (chart and timeline inline), to stdout or ``--out``.

A chart that cannot be written (a read-only run folder) leaves the report without its image and says so
on stderr; the report itself is still written.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from aar.runtime import RunPaths
from aar.store import RunStore
from aar.timeline import load_timeline
from aar_app.report import build_report, render_markdown
from aar_app.report_html import render_html
from aar_app.report_svg import chart_svg
from aar_app.report_timeline import timeline_svg

Format = Literal["md", "json", "html"]
CHART_SUFFIX = "-chart.svg"


def chart_path(paths: RunPaths, out: Path | None) -> Path:
    """Where the markdown report's chart goes: beside ``out``, or in the run's ``report/`` folder."""
    if out is not None:
        return out.with_name(out.stem + CHART_SUFFIX)
    return paths.root / "report" / "chart.svg"


async def render_report(
    paths: RunPaths, fmt: Format, *, out: Path | None = None, reference_pgr: Sequence[float] | None = None
) -> tuple[str, list[Path]]:
    """The report's text in ``fmt``, and the files written beside it (the markdown's chart)."""
    report = await build_report(paths, reference_pgr=reference_pgr)
    if fmt == "json":
        return json.dumps(report.model_dump(mode="json"), indent=2) + "\n", []
    if fmt == "html":
        return render_html(report, chart=chart_svg(report.progress), timeline=await _timeline(paths)), []
    target = chart_path(paths, out)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(chart_svg(report.progress), encoding="utf-8")
    except OSError as exc:
        print(f"aar report: the chart was not written ({target}: {exc.strerror or exc})", file=sys.stderr)
        return render_markdown(report), []
    link = target.name if out is not None else str(target.resolve())
    return render_markdown(report, chart=link), [target]


async def _timeline(paths: RunPaths) -> str:
    async with await RunStore.open(paths.db) as store:
        return timeline_svg(await load_timeline(store))
