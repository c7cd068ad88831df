"""``[report]``: what the progress chart (the TUI's ``C``, ``aar report``) draws beside the run's own numbers.

    [report]
    reference_pgr = [0.23]   # the study's human baseline, after 7 days

``aar report --reference 0.23`` overrides the list for one report.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aar.config.base import Section

ReferencePgr = Annotated[float, Field(ge=-10, le=10, allow_inf_nan=False)]


class ReportSection(Section):
    reference_pgr: Annotated[list[ReferencePgr], Field(max_length=8)] = []
    """PGR values drawn as dashed horizontal lines on the progress chart, each labelled with its value (the
    weak baseline, PGR 0, and the evaluator's vanilla baseline are drawn anyway)."""
