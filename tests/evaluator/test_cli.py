"""``aar eval``, ``python -m evaluator.compute.run_method`` and the jsonl task, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator.compute.pipeline import CACHE_VERSION
from evaluator.daemon.cli import main

METHOD = """
from evaluator.compute.methods import filtering

def run(ctx):
    ctx.log(f"{ctx.n_train} weak labels, {len(ctx.test_x)} test inputs")
    return filtering.run(ctx, keep=0.6)
"""


@pytest.mark.slow
def test_aar_eval_prints_pgr_ci_accuracies_and_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    method = tmp_path / "mine.py"
    method.write_text(METHOD)
    argv = [
        "--task",
        "toy",
        "--method",
        str(method),
        "--seeds",
        "2",
        "--size",
        "2000",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--format",
        "json",
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    (m,) = report["methods"]
    assert m["method"] == "mine" and m["ci_low"] < m["pgr"] < m["ci_high"]
    assert m["acc_weak"] < m["acc_transfer"] < m["acc_ceiling"]
    assert report["wall_s"] > 0 and len(m["seconds_per_seed"]) == 2
    assert m["flags"] == [], "an honest method gets no flag from the service's checks"
    assert m["logs"]["0"][0].endswith("2000 weak labels, 2000 test inputs") and set(m["logs"]) == {"0", "1"}
    assert min(m["checks"]["canary_moved_per_seed"]) > 1e-3 and m["checks"]["seed_moved"] > 1e-3
    assert list((tmp_path / "cache").glob(f"toy-*/cpu-v{CACHE_VERSION}/baseline-1-*.json")), (
        "baselines are cached by task and seed"
    )
    assert main(argv[:-2]) == 0
    text = capsys.readouterr().out
    assert "PGR" in text and "95% CI" in text and "wall time" in text and "mine" in text


FIXED_LIST = """
import numpy as np

def run(ctx):
    ctx.log("answers \x1b[31mred\x1b[0m without the labels")
    return np.random.default_rng(0).random(len(ctx.test_x))
"""


@pytest.mark.slow
def test_aar_eval_shows_the_flags_a_run_would_raise_and_the_methods_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The service's own checks (canary on other weak labels, seeds, ceiling): a fixed answer is flagged as a
    run's evaluator would flag it, and ``--verbose`` prints what the method logged, escaped."""
    fixed = tmp_path / "fixed.py"
    fixed.write_text(FIXED_LIST)
    argv = ["--method", str(fixed), "--seeds", "2", "--size", "2000", "--cache-dir", str(tmp_path / "cache")]
    assert main([*argv, "--verbose"]) == 0
    text = capsys.readouterr().out
    assert "fixed: flags ignores_labels, seed_invariant; canary moved 0.0000 (ignores_labels under 0.001)" in text
    assert "  fixed seed 1: [   0.0s] answers \\x1b[31mred\\x1b[0m without the labels" in text
    assert "\x1b" not in text, "a method's text reaches the terminal escaped"
    assert main([*argv, "--no-checks", "--format", "json"]) == 0
    (m,) = json.loads(capsys.readouterr().out)["methods"]
    assert m["checks"] == {} and "ignores_labels" not in m["flags"]


def test_aar_eval_rejects_a_file_without_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def train(ctx):\n    pass\n")
    assert main(["--method", str(bad), "--seeds", "1", "--no-cache"]) == 2
    assert "bad.py defines no run(ctx)" in capsys.readouterr().err


def test_aar_eval_names_a_device_this_machine_lacks(capsys: pytest.CaptureFixture[str]) -> None:
    from aar.devices import gpu_count

    gpu = f"cuda:{gpu_count()}"  # one past this machine's last GPU
    assert main(["--method", "vanilla", "--seeds", "1", "--no-cache", "--device", gpu]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"--device: {gpu} does not exist: this machine has" in line
    assert main(["--method", "vanilla", "--seeds", "1", "--no-cache", "--device", "tpu"]) == 2
    assert "--device tpu: use auto, cpu, cpu:N, cuda or cuda:N" in capsys.readouterr().err


@pytest.mark.slow
def test_run_method_on_a_bundle_writes_predictions_without_labels(tmp_path: Path) -> None:
    from evaluator.compute.pipeline import train_weak
    from evaluator.compute.tasks.toy import ToyParams, ToyTask
    from evaluator.daemon.bundle import write_bundle

    task = ToyTask(ToyParams(size=1000))
    data = task.load()
    weak = {s: train_weak(task, data, s, "cpu").train_probs for s in (3, 4)}
    write_bundle(task, data, weak, tmp_path / "task")
    (tmp_path / "m.py").write_text(METHOD)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "evaluator.compute.run_method", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = run("m.py", "--seed", "3", "--out", "p.json", "--threads", "1")
    assert done.returncode == 0, done.stderr
    assert "1000 predictions written" in done.stdout and "No accuracy here" in done.stdout
    preds = json.loads((tmp_path / "p.json").read_text())
    assert preds["seed"] == 3 and len(preds["feedback"]) == 500 and len(preds["final"]) == 500
    assert any("weak labels" in line for line in preds["logs"])
    # Several seeds in one process (how the evaluator verifies a method): each seed's file is what a process
    # of its own writes, number for number.
    both = run("m.py", "--seed", "4", "--seed", "3", "--out", "p-{seed}.json", "--threads", "1")
    assert both.returncode == 0, both.stderr
    assert "predictions written to p-4.json" in both.stdout and "predictions written to p-3.json" in both.stdout
    together = json.loads((tmp_path / "p-3.json").read_text())
    assert (together["seed"], together["feedback"], together["final"]) == (3, preds["feedback"], preds["final"])
    unnamed = run("m.py", "--seed", "3", "--seed", "4", "--out", "p.json")
    assert unnamed.returncode == 2 and "with several seeds, name each seed's file with {seed}" in unnamed.stderr
    wrong = run("m.py", "--seed", "3", "--seed", "0", "--out", "p-{seed}.json")
    assert wrong.returncode == 2 and "seed 0 has no weak labels in the bundle; use one of [3, 4]" in wrong.stderr
    missing = run("m.py", "--bundle", "nowhere")
    assert missing.returncode == 2 and "no task bundle at nowhere" in missing.stderr


@pytest.mark.slow
def test_jsonl_task_with_tiny_hf_models(tiny_hf: dict[str, Path], tmp_path: Path) -> None:
    """The AAR format end to end: bundle with the checkpoints, a method run from it, scoring by aar eval."""
    from evaluator.compute.methods import confidence
    from evaluator.compute.pipeline import make_context, run_method, train_weak
    from evaluator.compute.tasks.jsonl import JsonlTask
    from evaluator.daemon.bundle import read_bundle, write_bundle

    task = JsonlTask(tiny_hf["data"], tiny_hf["weak"], tiny_hf["strong"])
    data = task.load()
    assert (len(data["weak_train"]), len(data["train_unlabel"]), len(data["feedback"]), len(data["final"])) == (
        40,
        60,
        20,
        20,
    )
    weak = train_weak(task, data, 0, "cpu")
    write_bundle(task, data, {0: weak.train_probs}, tmp_path / "task")
    assert '"label"' not in (tmp_path / "task" / "feedback.jsonl").read_text()
    assert not (tmp_path / "task" / "weak_train.jsonl").exists(), "the weak model's training data stays out"
    bundle = read_bundle(tmp_path / "task")
    assert (tmp_path / "task" / "models" / "strong" / "config.json").exists()
    ctx = make_context(bundle.task, bundle.data, bundle.weak_probs[0], 0, "cpu")
    probs = run_method(lambda c: confidence.run(c, aux_weight=0.5, warmup=0.1, epochs=1), ctx)
    assert probs.shape == (40,) and ((probs >= 0) & (probs <= 1)).all()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "evaluator.daemon.cli",
            "--task",
            "jsonl",
            "--data-dir",
            str(tiny_hf["data"]),
            "--weak-model",
            str(tiny_hf["weak"]),
            "--strong-model",
            str(tiny_hf["strong"]),
            "--seeds",
            "1",
            "--no-cache",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    (m,) = json.loads(out.stdout)["methods"]
    assert m["examples"] == 20 and 0 <= m["acc_weak"] <= 1
    assert (m["pgr"] is None) == (m["acc_ceiling"] <= m["acc_weak"]), (
        "no PGR exactly when the ceiling is not above weak"
    )
