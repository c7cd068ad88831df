"""The ``aar`` command on real run folders: errors, ls, report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aar.config import load_config
from aar.events import RunStateChanged
from aar.runs import create_run, find_run
from aar.store import RunStore
from aar_app.cli import main
from tests.support import FakeClock

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_bad_config_exits_2_with_one_line_per_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[team]\ncount = 0\nbakend = 'x'\n")
    assert main(["run", str(bad), "--headless"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"aar: error: {bad}: team.count: Input should be greater than or equal to 1 (got 0)",
        f"aar: error: {bad}: team.bakend: unknown key (allowed: count, backend, model, pace_s, approval, budget)",
    ]
    assert not (tmp_path / "runs").exists()  # nothing created for a bad config


def test_unknown_run_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"aar: error: no runs under {tmp_path}; start one with `aar run examples/demo.toml`"
    )


async def _seeded_run(tmp_path: Path) -> Path:
    config = load_config(EXAMPLES / "demo.toml", [f"run.runs_dir={json.dumps(str(tmp_path))}"])
    paths = await create_run(config)
    clock = FakeClock()
    async with await RunStore.open(paths.db, clock=clock) as store:
        await store.register_agent("agent-1", backend="scripted", model="m", direction="d")
        await store.add_usage("agent-1", steps=3, input_tokens=100, output_tokens=20, cost_usd=0.5)
        sub = await store.add_submission(
            "agent-1", "method", {"filename": "m.py", "source": "x"}, flags=["probe"], label="methods/m.py"
        )
        job = await store.enqueue_job("verify_method", {}, submission_id=sub)
        await store.claim_job("worker-cuda1", device="cuda:1")
        clock.advance(1800)
        await store.update_job(job, status="done")  # charges the device time since the claim: half an hour
        await store.add_result(job, submission_id=sub, split="seeds", pgr=0.31, ci_low=0.2, ci_high=0.42, metrics={})
        await store.add_post("agent-1", "Filtering works", "PGR 0.31")
        await store.append(None, RunStateChanged(state="finished"))
        await store.set_meta("state", "finished")
    return paths.root


async def test_report_json_has_the_promised_fields(tmp_path: Path) -> None:
    root = await _seeded_run(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "aar_app.cli", "report", root.name, "--runs-dir", str(tmp_path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["run"] == root.name
    assert report["state"] == "finished"
    assert report["events"] == 1 and report["forum_posts"] == 1
    (agent,) = report["agents"]
    assert {
        k: agent[k]
        for k in ("name", "status", "steps", "input_tokens", "output_tokens", "cache_read_tokens", "cost_usd")
    } == {
        "name": "agent-1",
        "status": "idle",
        "steps": 3,
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_read_tokens": 0,
        "cost_usd": 0.5,
    }
    (entry,) = report["leaderboard"]
    assert entry == {
        "agent": "agent-1",
        "submission_id": 1,
        "kind": "method",
        "label": "methods/m.py",
        "split": "seeds",
        "pgr": 0.31,
        "ci_low": 0.2,
        "ci_high": 0.42,
        "flags": ["probe"],
        "links": [],
    }
    (used,) = report["device_time"]
    assert (used["agent"], used["jobs"], used["devices"], used["cpu_hours"]) == ("agent-1", 1, ["cuda:1"], 0.0)
    assert used["gpu_hours"] == 0.5


def test_ls_and_markdown_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = asyncio.run(_seeded_run(tmp_path))
    assert find_run(tmp_path, root.name[:6]).root == root
    assert main(["ls", "--runs-dir", str(tmp_path)]) == 0
    line = capsys.readouterr().out.splitlines()[1].split()
    assert line[:5] == [root.name, "finished", "1", "$0.50", "1"]
    assert main(["report", "--runs-dir", str(tmp_path)]) == 0
    md = capsys.readouterr().out
    assert "| 1 | agent-1 | 1 | methods/m.py | method | seeds | 0.310 [0.200, 0.420] | probe |" in md
    assert "| agent | jobs | GPU-hours | CPU-device hours | devices |" in md and "| 0.500 | 0.000 | cuda:1 |" in md


def test_a_claude_run_without_its_key_fails_before_the_run_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert main(["run", str(EXAMPLES / "claude.toml"), "--headless"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "aar: error: anthropic: $ANTHROPIC_API_KEY is not set; export your API key in it "
        "(or point anthropic.api_key_env at the variable that holds it)"
    ]
    assert not (tmp_path / "runs").exists()


def test_a_device_this_machine_lacks_fails_before_the_run_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aar.devices import gpu_count

    monkeypatch.chdir(tmp_path)
    gpu = f"cuda:{gpu_count()}"  # one past this machine's last GPU
    cfg = tmp_path / "pool.toml"
    cfg.write_text(f'[team]\ncount = 1\n[devices]\nevaluator = ["{gpu}"]\nsandboxes = ["cpu:0"]\n')
    assert main(["run", str(cfg), "--headless"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"aar: error: config: devices.evaluator: {gpu} does not exist: this machine has")
    assert not (tmp_path / "runs").exists()


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"" for p in sorted(folder.rglob("*"))}


def test_backup_to_a_folder_that_exists_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = asyncio.run(_seeded_run(tmp_path / "runs"))
    dest = tmp_path / "kept"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    assert main(["backup", root.name, str(dest), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err.splitlines() == [f"aar: error: {dest} already exists; a backup goes to a new folder"]
    assert _listing(dest) == {"notes.txt": b"mine"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "runs"], "no partial copy is left"
    assert main(["backup", root.name, str(root / "copy"), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"aar: error: {root / 'copy'} is inside the run folder {root}; a backup goes outside it"
    ]

    workspace = root / "workspaces" / "agent-1"
    workspace.mkdir(parents=True)
    (workspace / "notes.md").write_text("results")
    (workspace / "leak").symlink_to("/etc/hostname")  # an agent's link: copied as a link, never followed
    os.mkfifo(workspace / "pipe")  # would block a reader: left out
    assert main(["backup", root.name, str(tmp_path / "copy"), "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"backed up to {tmp_path / 'copy'}: store ") and out[0].endswith(", 1 skipped")
    assert out[1] == f"  skipped {workspace / 'pipe'} (not a file or a folder)"
    copied = tmp_path / "copy" / "workspaces" / "agent-1"
    assert (copied / "notes.md").read_text() == "results"
    assert os.readlink(copied / "leak") == "/etc/hostname" and not (copied / "pipe").exists()
    assert main(["report", str(tmp_path / "copy")]) == 0
    assert (
        "| 1 | agent-1 | 1 | methods/m.py | method | seeds | 0.310 [0.200, 0.420] | probe |" in capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("page", "cannot be read (database disk image is malformed)"),
        ("byte", "is damaged: row 1 missing from index sqlite_autoindex_agents_1"),
    ],
)
def test_resume_of_a_damaged_store_is_one_line_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str, said: str
) -> None:
    root = asyncio.run(_seeded_run(tmp_path / "runs"))
    assert main(["backup", root.name, str(tmp_path / "copy"), "--runs-dir", str(tmp_path / "runs")]) == 0
    capsys.readouterr()
    db = tmp_path / "copy" / "run.db"
    with sqlite3.connect(db) as raw:
        page = raw.execute("PRAGMA page_size").fetchone()[0]
        (rootpage,) = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = 'agents'").fetchone()
    damaged = bytearray(db.read_bytes())
    at = (rootpage - 1) * page
    if damage == "page":  # the agents table's page: garbage
        damaged[at : at + page] = bytes([0x5A]) * page
    else:  # one agent's name, in the table but not in its index
        name = damaged.index(b"agent-1", at, at + page)
        damaged[name : name + 7] = b"agent-Z"
    db.write_bytes(bytes(damaged))
    before = _listing(tmp_path / "copy")

    assert main(["resume", str(tmp_path / "copy"), "--no-attach"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"aar: error: the store {db} {said}; nothing was changed; resume a backup (`aar backup`)")
    assert _listing(tmp_path / "copy") == before, "nothing was written"


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """``folder`` made unwritable: a tmpfs remounted read-only as root (root writes through modes), mode 0555
    otherwise."""
    if os.geteuid() != 0:
        folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
        for each in folders:
            each.chmod(0o555)
        try:
            yield
        finally:
            for each in folders:
                each.chmod(0o755)
        return
    if subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("cannot remount a tmpfs read-only here")
    try:
        yield
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)


@contextlib.contextmanager
def _scratch_mount(folder: Path) -> Iterator[Path]:
    """``folder``, as a tmpfs of its own where root may mount one (else the plain folder)."""
    folder.mkdir()
    mounted = os.geteuid() == 0
    if mounted and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)]).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield folder
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_run_on_a_read_only_file_system_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _scratch_mount(tmp_path / "ro") as runs:
        root = asyncio.run(_seeded_run(runs))
        before = _listing(root)
        with _read_only(runs):
            assert main(["resume", str(root), "--no-attach"]) == 2
            (line,) = capsys.readouterr().err.splitlines()
            assert line.startswith(f"aar: error: {root} is not writable (")
            assert line.endswith(f"(`aar backup {root.name} DEST`) and resume the copy")

            assert main(["backup", str(root), str(runs / "copy")]) == 2
            (line,) = capsys.readouterr().err.splitlines()
            assert line.startswith(f"aar: error: cannot write in {runs}: ")

            assert main(["backup", str(root), str(tmp_path / "copy")]) == 0, capsys.readouterr().err
            assert _listing(root) == before
        assert main(["report", str(tmp_path / "copy")]) == 0
        assert "| 1 | agent-1 | 1 | methods/m.py |" in capsys.readouterr().out
