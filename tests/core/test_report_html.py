"""``aar report --format html``: one self-contained page, opened in a real headless Chromium (Debian's), which
renders the leaderboard, the chart and the timeline and requests nothing but the page itself; a page that
does reach out is caught the same way (the control), so the check can fail. Agent text is escaped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aar.store import BranchRow, RunStore
from aar_app.report_html import CSP
from tests.support import aar_cli
from tests.support.browser import headless_chromium
from tests.support.progress import progress_run

RUN = "prog-20260101-000000"
LINKS = re.compile(r"""(?:\bsrc|\bhref|\baction|\bposter|\bdata)\s*=\s*["']?([^"'\s>]*)|url\(\s*["']?([^"')]*)""", re.I)
SVG_NAMESPACE = 'xmlns="http://www.w3.org/2000/svg"'


async def _page(tmp_path: Path, *, scored: bool = True) -> Path:
    await progress_run(tmp_path / "runs" / RUN, scored=scored)
    page = tmp_path / "night.html"
    out = aar_cli("report", RUN, "--format", "html", "--out", str(page), cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == f"wrote {page}\n", out.stderr
    return page


async def test_the_page_names_nothing_outside_itself_and_escapes_agent_text(tmp_path: Path) -> None:
    text = (await _page(tmp_path)).read_text()
    outside = [a or b for a, b in LINKS.findall(text) if not (a or b).startswith(("#", "data:"))]
    assert outside == [], outside
    assert re.findall(r"(?:https?:)?//[\w.-]", text.replace(SVG_NAMESPACE, "")) == [], "no URL but the namespace"
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in text
    assert "<script" not in text and "\x1b" not in text
    assert "[bold]m\\x1b[31m&lt;script&gt;alert(1)&lt;/script&gt;.py" in text, "the hostile label, escaped"
    for section in ("progress", "timeline", "leaderboard", "agents", "flags"):
        assert f'id="{section}"' in text, section


async def test_printed_to_stdout_the_page_is_the_same_document(tmp_path: Path) -> None:
    page = await _page(tmp_path)
    out = aar_cli("report", RUN, "--format", "html", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("<!DOCTYPE html>") and out.stdout.endswith("</html>\n")
    strip = re.compile(r"Written by aar report at [^.]*\.")  # the one line that names the time
    assert strip.sub("", out.stdout) == strip.sub("", page.read_text())


@pytest.mark.slow
async def test_chromium_renders_the_leaderboard_chart_and_timeline_and_the_page_requests_nothing(
    tmp_path: Path,
) -> None:
    page = await _page(tmp_path)
    control = tmp_path / "control.html"
    control.write_text('<!DOCTYPE html><html><body><img src="http://example.invalid/x.png"></body></html>')
    with headless_chromium() as browser:
        reaching = browser.load(control.as_uri())
        loaded = browser.load(page.as_uri())
    assert reaching.requests == [control.as_uri(), "http://example.invalid/x.png"], "the check sees a request"
    assert loaded.requests == [page.as_uri()] and loaded.blocked == [], (loaded.requests, loaded.blocked)
    dom = loaded.dom
    board = dom[dom.index('id="leaderboard"') :]
    rows = re.findall(r"<tr><td class=\"num\">(\d+)</td><td>(agent-\d)</td>", board)
    assert rows[:3] == [("1", "agent-2"), ("2", "agent-2"), ("3", "agent-1")] and len(rows) >= 7
    assert "probe.py" in board and "0.900 [0.850, 0.950]" in board
    assert 'aria-label="progress chart"' in dom and dom.count('class="best"') == 4
    assert 'aria-label="timeline"' in dom and dom.count('class="mark submission"') == 7
    assert "<script" not in dom, "the hostile label stayed text"


async def test_a_run_with_no_result_yet_still_makes_a_page(tmp_path: Path) -> None:
    text = (await _page(tmp_path, scored=False)).read_text()
    assert "no verified method counts yet after 3.0 agent-hours and $7.50" in text
    assert "No scored submission yet." in text and "no scored submission yet</text>" in text


async def test_a_branch_is_in_both_reports_with_its_lineage_and_its_guidance_escaped(tmp_path: Path) -> None:
    root = tmp_path / "runs" / RUN
    await progress_run(root, scored=True)
    async with await RunStore.open(root / "run.db") as store:
        made = BranchRow(
            agent="agent-1-b1",
            parent="agent-1",
            step=2,
            snapshot_id=1,
            snapshot_step=1,
            guidance="<script>x()</script> [bold]try\nfiltering",
            dollars=2.0,
            tokens=50_000,
            command_id=7,
        )
        messages = await store.transcript_as_of("agent-1", 2)
        await store.create_branch(made, backend="scripted", model="m", direction="d", messages=messages, guidance="g")
    md = aar_cli("report", RUN, cwd=tmp_path)
    assert md.returncode == 0, md.stderr
    assert "| agent-1-b1 (⑂ agent-1@2) |" in md.stdout and "## Branches" in md.stdout
    row = next(line for line in md.stdout.splitlines() if line.startswith("| agent-1-b1 | agent-1 |"))
    assert "| 2 | 1 | $2.00, 50000 tokens |" in row and "try filtering" in row
    page = (await _page_of(tmp_path)).read_text()
    assert 'id="branches"' in page and "agent-1-b1 (⑂ agent-1@2)" in page
    assert "&lt;script&gt;x()&lt;/script&gt; [bold]try filtering" in page and "<script>x()" not in page


async def _page_of(tmp_path: Path) -> Path:
    page = tmp_path / "with-branch.html"
    out = aar_cli("report", RUN, "--format", "html", "--out", str(page), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return page
