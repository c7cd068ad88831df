"""``aar review RUN``: the top verified methods with everything the run knows of each, the supervisor's verdict
recorded from a plain shell, bad input as one line, agent text escaped; and the report's reviewed results."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from aar.runtime import RunPaths
from aar.store import RunStore
from aar_app.cli import main
from tests.support.review import review_run

HOSTILE = "boot\x1b[8m.py\u202egnp.\n#9 agent-1 · fake.py · accept"
"""A label, title or note that hides what follows, reverses a line and forges one of the CLI's own."""


@pytest.fixture
def run(tmp_path: Path) -> RunPaths:
    return asyncio.run(review_run(tmp_path))


def review(run: RunPaths, *args: str) -> int:
    return main(["review", run.run_id, "--runs-dir", str(run.root.parent), *args])


def test_the_top_methods_each_with_what_the_run_knows(run: RunPaths, capsys: pytest.CaptureFixture[str]) -> None:
    assert review(run) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    assert len(blocks) == 2, "the two verified methods (top_k 3); the prediction file has no verdict yet"
    best, second = (b.splitlines() for b in blocks)
    assert best == [
        "#2 agent-2 · methods/boot.py · method, scored · top",
        "  seeds PGR 0.450 [0.400, 0.500] · seed acc 0.812 0.809",
        "  transfer tilted: PGR 0.300 [0.200, 0.400], vs vanilla +0.050 [+0.010, +0.090]",
        "  flags: probe, review",
        "  canary: canary_agreement 0.93 · canary_moved_per_seed [0.011, 0.02] · seed_moved 0.031",
        "  monitors on agent-2: 1 decision(s), latest:",
        "    monitor builtin -> pause: read heldout files",
        "  ✓ post #1 by agent-2 (Result: #2): PGR 0.45 verified",
        "  ✗ post #1 by agent-2 (Result: #2): 0.9 contradicted",
        "  device 1800.0 s · 812 ex/s · 41.2k tok/s · pad 9% · 1.2 GB cuda",
        "  verdict: none yet (aar review RUN --verdict ID accept|reject|needs-work --note TEXT)",
    ]
    assert second[0] == "#1 agent-1 · methods/filter.py · method, scored · top" and len(second) == 4
    assert review(run, "--top", "1") == 0
    only = capsys.readouterr().out
    assert only.startswith("#2 ") and "\n#1 " not in only


def test_a_verdict_from_the_shell_is_listed_and_kept(run: RunPaths, capsys: pytest.CaptureFixture[str]) -> None:
    assert review(run, "--verdict", "3", "reject", "--note", "copies #1's labels") == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line == "submission #3: reject recorded (forum post #2 tells agent-2)"
    assert review(run, "--top", "1", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(c["submission_id"], c["top"]) for c in listed] == [(2, True), (3, False)]
    verdict = listed[1]["verdict"]
    assert (verdict["verdict"], verdict["note"], verdict["post_id"]) == ("reject", "copies #1's labels", 2)
    assert listed[1]["split"] == "feedback" and listed[1]["feedback"]["pgr"] == 0.2


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--verdict", "99", "reject"], "no submission #99 in this run"),
        (["--verdict", "2", "maybe"], "a verdict is one of accept, reject, needs-work: not 'maybe'"),
        (["--verdict", "two", "reject"], "--verdict takes a submission id, then a verdict: not 'two'"),
        (["--verdict", "9" * 30, "reject"], f"--verdict takes a submission id, then a verdict: not '{'9' * 30}'"),
        (["--note", "why"], "--note goes with --verdict ID accept|reject|needs-work"),
        (["--top", "0"], "--top must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    run: RunPaths, capsys: pytest.CaptureFixture[str], args: list[str], error: str
) -> None:
    assert review(run, *args) == 2
    out = capsys.readouterr()
    assert out.err.splitlines() == [f"aar: error: {error}"] and out.out == ""

    async def written() -> tuple[int, int]:
        async with await RunStore.open(run.db) as store:
            return len(await store.verdicts()), await store.post_count()

    assert asyncio.run(written()) == (0, 1)


def test_a_run_that_is_not_there_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"aar: error: no runs under {tmp_path}; start one with `aar run examples/demo.toml`"
    ]


def test_agent_text_is_escaped_through_the_real_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = asyncio.run(review_run(tmp_path, label=HOSTILE, post_title=f"#2 {HOSTILE}"))
    assert review(run, "--verdict", "2", "needs-work", "--note", HOSTILE) == 0
    assert review(run) == 0
    assert review(run, "--json") == 0
    out, as_json = capsys.readouterr().out.split("\n[\n", 1)
    assert "\x1b" not in out + as_json and "\u202e" not in out + as_json
    assert "boot\\x1b[8m.py\\u202egnp. #9 agent-1 · fake.py · accept" in out
    listed = out.split("\n", 1)[1]  # after the verdict's own line
    first = listed.split("\n\n")[0].splitlines()
    assert len(first) == 11 and not any(line.startswith("#9") for line in listed.splitlines())
    assert first[0].startswith("#2 agent-2 · boot\\x1b[8m.py")
    assert first[-1].endswith(": boot\\x1b[8m.py\\u202egnp. #9 agent-1 · fake.py · accept")
    assert json.loads("[\n" + as_json)[0]["verdict"]["note"] == HOSTILE, "JSON keeps the text, escaped"


def test_the_report_lists_accepted_results_first_and_keeps_the_leaderboard(
    run: RunPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", run.run_id, "--runs-dir", str(run.root.parent), "--format", "json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["reviewed"] == []
    for args in (["2", "reject", "--note", "probe"], ["1", "accept", "--note", "clean | solid"], ["3", "needs-work"]):
        assert review(run, "--verdict", *args) == 0
    capsys.readouterr()
    assert main(["report", run.run_id, "--runs-dir", str(run.root.parent), "--format", "json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after["leaderboard"] == before["leaderboard"], "the leaderboard is every score, reviewed or not"
    assert [(e["submission_id"], e["verdict"]) for e in after["reviewed"]] == [
        (1, "accept"),
        (3, "needs-work"),
        (2, "reject"),
    ]
    assert after["reviewed"][2]["transfers"][0]["target"] == "tilted"
    assert main(["report", run.run_id, "--runs-dir", str(run.root.parent)]) == 0
    md = capsys.readouterr().out
    section = md.split("## Reviewed results")[1].split("## Agents")[0]
    assert section.index("Accepted by the supervisor") < section.index("Not accepted")
    assert "| 1 | agent-1 | methods/filter.py | 0.310 [0.200, 0.420] | - | " in section
    assert "| clean \\| solid |" in section, "a note cannot break out of its cell"
    assert "| reject | 2 | agent-2 | methods/boot.py | 0.450 [0.400, 0.500] | tilted: PGR 0.300" in section


def test_the_final_table_puts_feedback_final_transfer_and_verdict_side_by_side(
    run: RunPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    async def score_final() -> None:
        async with await RunStore.open(run.db) as store:
            job = await store.enqueue_job("final", {"seeds": [0]}, status="done")
            # #1 holds within its feedback CI [0.20, 0.42]; #2 falls below [0.40, 0.50].
            for sid, pgr in ((1, 0.33), (2, 0.31)):
                await store.add_result(
                    job, submission_id=sid, split="final", pgr=pgr, ci_low=pgr - 0.1, ci_high=pgr + 0.1, metrics={}
                )

    asyncio.run(score_final())
    assert review(run, "--verdict", "2", "accept") == 0
    capsys.readouterr()
    assert main(["report", run.run_id, "--runs-dir", str(run.root.parent), "--format", "json"]) == 0
    table = json.loads(capsys.readouterr().out)["final_table"]
    assert [(e["submission_id"], e["verdict"], bool(e["warning"])) for e in table] == [
        (1, None, False),
        (2, "accept", True),
    ]
    assert main(["report", run.run_id, "--runs-dir", str(run.root.parent)]) == 0
    md = capsys.readouterr().out.split("## Final (private split)")[1].split("## ")[0]
    assert "| agent | submission | file | feedback PGR | final PGR | transfer | verdict |" in md
    assert "| agent-2 | 2 | methods/boot.py | 0.450 [0.400, 0.500] | 0.310 [0.210, 0.410] | tilted: PGR 0.300" in md
    assert md.rstrip().endswith(
        "warning: #2: final PGR 0.310 falls outside the feedback CI [0.400, 0.500]: a sign of overfitting the"
        " feedback split"
    )
