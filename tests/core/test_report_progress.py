"""``aar report`` and the progress chart, as a user runs it: ``--format json`` carries the series (equal to the
evaluator's result rows), ``--format md`` writes the chart as an SVG beside ``--out`` or into the run's folder
and links it, ``--reference`` draws the supervisor's lines, and a run with no result yet still reports."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

from aar.progress import Progress, load_progress
from aar.runtime import RunPaths
from aar.store import RunStore
from tests.support import aar_cli
from tests.support.progress import EXPECTED, progress_run

RUN = "prog-20260101-000000"
SVG = "{http://www.w3.org/2000/svg}"


async def _run(tmp_path: Path, *, scored: bool = True) -> RunPaths:
    return await progress_run(tmp_path / "runs" / RUN, scored=scored)


async def test_the_json_report_carries_the_series_and_they_equal_the_evaluators_result_rows(tmp_path: Path) -> None:
    paths = await _run(tmp_path)
    out = aar_cli("report", RUN, "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    progress = Progress.model_validate(json.loads(out.stdout)["progress"])
    with sqlite3.connect(paths.db) as db:
        rows = db.execute(
            "SELECT r.id, r.submission_id, r.pgr, r.ci_low, r.ci_high, s.kind, r.split FROM eval_results r"
            " JOIN submissions s ON s.id = r.submission_id WHERE r.split NOT IN ('final', 'transfer') ORDER BY r.id"
        ).fetchall()
    points = [(p.result_id, p.submission_id, p.pgr, p.ci_low, p.ci_high, p.kind, p.split) for p in progress.points]
    assert points == rows and len(rows) == len(EXPECTED)
    best = [s.pgr for s in progress.team.steps]
    running: list[float] = []
    for p in progress.points:
        if p.counted and p.pgr is not None and (not running or p.pgr > running[-1]):
            running.append(p.pgr)
    assert best == running == [0.25, 0.40, 0.55]
    assert all(p.kind == "method" for p in progress.points if p.counted), "only verified methods count"
    async with await RunStore.open(paths.db) as store:
        assert progress == await load_progress(store, supervisor=[0.23]), "the same series the TUI draws"


async def test_md_with_out_writes_the_chart_beside_the_report_and_links_it_by_name(tmp_path: Path) -> None:
    await _run(tmp_path)
    target = tmp_path / "share" / "night.md"
    target.parent.mkdir()
    out = aar_cli("report", RUN, "--out", str(target), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    chart = tmp_path / "share" / "night-chart.svg"
    assert out.stdout == f"wrote {target}, {chart}\n"
    text = target.read_text()
    assert "![Best verified PGR over agent-hours and dollars](<night-chart.svg>)" in text
    assert "best verified PGR 0.550 after 3.0 agent-hours and $7.50." in text
    assert "| 1.50 | $7.00 | 0.400 | 3 | agent-2 |" in text, "each rise of the best, in hours and dollars"
    assert "\\<script\\>" in text and "<script>" not in text and "\x1b" not in text, "the label is escaped"
    raw = chart.read_text()
    root = ET.fromstring(raw)  # well-formed XML
    paths = root.findall(f".//{SVG}path[@class='best']")
    assert [p.get("data-series") for p in paths] == ["team", "team", "agent-1", "agent-2"]
    methods = root.findall(f".//{SVG}circle[@class='point method']")
    rings = root.findall(f".//{SVG}circle[@class='point predictions']")
    crosses = root.findall(f".//{SVG}g[@class='point not-counted']")
    assert (len(methods), len(rings), len(crosses)) == (3 * 4, 3 * 1, 3 * 2), "each panel: 4 counted, 1 file, 2 not"
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert any("<script>alert(1)</script>" in t and "\\x1b[31m" in t for t in titles), titles
    assert "<script" not in raw and "\x1b" not in raw, "agent text is escaped in the image"
    for label in ("reference 0.23", "vanilla 0.20", "weak 0.00", "best 0.55", "agent-hours", "dollars"):
        assert label in raw, label


async def test_md_to_stdout_writes_the_chart_into_the_runs_folder_and_links_its_path(tmp_path: Path) -> None:
    paths = await _run(tmp_path)
    out = aar_cli("report", RUN, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    chart = (paths.root / "report" / "chart.svg").resolve()
    assert f"](<{chart}>)" in out.stdout and chart.is_file()
    assert out.stdout.index("## Progress") < out.stdout.index("## Leaderboard")


async def test_reference_lines_come_from_the_config_or_from_reference_flags(tmp_path: Path) -> None:
    await _run(tmp_path)

    def lines(*flags: str) -> list[tuple[str, float]]:
        out = aar_cli("report", RUN, "--format", "json", *flags, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        return [(r["label"], r["pgr"]) for r in json.loads(out.stdout)["progress"]["references"]]

    assert lines() == [("weak", 0.0), ("vanilla", 0.2), ("reference", 0.23)]
    assert lines("--reference", "0.5", "--reference", "0.7") == [
        ("weak", 0.0),
        ("vanilla", 0.2),
        ("reference", 0.5),
        ("reference", 0.7),
    ]
    bad = aar_cli("report", RUN, "--reference", "high", cwd=tmp_path)
    assert bad.returncode == 2 and "--reference: 'high' is not a PGR between -10 and 10" in bad.stderr


async def test_a_run_with_no_result_yet_still_reports_with_an_empty_chart(tmp_path: Path) -> None:
    await _run(tmp_path, scored=False)
    out = aar_cli("report", RUN, "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    progress = json.loads(out.stdout)["progress"]
    assert progress["points"] == [] and progress["team"]["steps"] == [] and progress["team"]["best_pgr"] is None
    target = tmp_path / "r.md"
    out = aar_cli("report", RUN, "--out", str(target), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "no verified method counts yet after 3.0 agent-hours and $7.50." in target.read_text()
    assert "No scored submission yet." in target.read_text()
    assert "no scored submission yet" in (tmp_path / "r-chart.svg").read_text()


async def test_a_chart_that_cannot_be_written_leaves_the_report_whole_and_says_why(tmp_path: Path) -> None:
    paths = await _run(tmp_path)
    (paths.root / "report").write_text("a file where the folder would go")
    out = aar_cli("report", RUN, cwd=tmp_path)
    assert out.returncode == 0 and "## Leaderboard" in out.stdout and "![" not in out.stdout
    assert out.stderr.startswith("aar report: the chart was not written (") and out.stderr.count("\n") == 1
