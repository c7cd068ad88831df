"""PGR per subset (where jsonl rows name one) and PGR from ROC AUC beside PGR from accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aar.errors import AarError
from evaluator.compute.tasks.jsonl import JsonlTask
from evaluator.daemon.bundle import read_subsets, write_heldout
from evaluator.daemon.scoring import score
from evaluator.daemon.stats import roc_auc


def _checkpoint(folder: Path) -> Path:
    """What the task checks of a checkpoint before it loads one (loading the data needs no model)."""
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def _data(folder: Path, subsets: list[str | None]) -> Path:
    folder.mkdir()
    for name in ("train_label", "train_unlabel"):
        rows = [{"text": f"{name} {i}", "label": i % 2} for i in range(6)]
        (folder / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    test = [{"text": f"t{i}", "label": i % 2} | ({} if s is None else {"subset": s}) for i, s in enumerate(subsets)]
    (folder / "test.jsonl").write_text("\n".join(json.dumps(r) for r in test))
    return folder


def test_subsets_of_the_test_rows_reach_the_held_out_folder_split_by_split(tmp_path: Path) -> None:
    subsets = ["id" if i % 3 else "ood" for i in range(40)]
    task = JsonlTask(_data(tmp_path / "data", list(subsets)), _checkpoint(tmp_path / "w"), _checkpoint(tmp_path / "s"))
    data = task.load()
    write_heldout(data, tmp_path / "heldout")
    texts = {t: s for t, s in zip((f"t{i}" for i in range(40)), subsets, strict=True)}
    for split in ("feedback", "final"):
        got = read_subsets(tmp_path / "heldout", split)
        assert got == [texts[str(t)] for t in data[split].strong_inputs]
    assert read_subsets(tmp_path / "heldout", "train_unlabel") is None


def test_rows_without_subsets_write_none_and_a_partial_naming_is_one_line(tmp_path: Path) -> None:
    plain = JsonlTask(_data(tmp_path / "plain", [None] * 8), _checkpoint(tmp_path / "w"), _checkpoint(tmp_path / "s"))
    write_heldout(plain.load(), tmp_path / "heldout")
    assert read_subsets(tmp_path / "heldout", "feedback") is None
    partial = JsonlTask(_data(tmp_path / "partial", ["a", None, "b", "a"]), tmp_path / "w", tmp_path / "s")
    with pytest.raises(
        AarError, match=r"test\.jsonl: row 2 has no 'subset' while others do; give every row one, or none"
    ):
        partial.load()


def test_per_subset_accuracies_weighted_by_size_give_back_the_overall_one() -> None:
    rng = np.random.default_rng(3)
    n, seeds = 600, 3
    labels = rng.integers(0, 2, n)
    subsets = ["in" if i < 400 else "out" for i in range(n)]

    def noisy(flip: float) -> np.ndarray:
        return np.array([np.where(rng.random(n) < flip, 1 - labels, labels) for _ in range(seeds)], dtype=float)

    scored = score("feedback", labels, noisy(0.3), noisy(0.05), noisy(0.15), subsets=subsets)
    parts = scored.metrics["subsets"]
    assert sorted(parts) == ["in", "out"] and (parts["in"]["n"], parts["out"]["n"]) == (400, 200)
    for key in ("acc_weak", "acc_ceiling", "acc_transfer"):
        weighted = sum(p["n"] * p[key] for p in parts.values()) / n
        assert weighted == pytest.approx(scored.metrics[key], abs=1e-12)
    for part in parts.values():
        assert part["ci_low"] <= part["pgr"] <= part["ci_high"]
    assert "subsets" not in score("feedback", labels, noisy(0.3), noisy(0.05), noisy(0.15)).metrics


def test_auc_counts_ties_as_half_and_pgr_from_auc_sits_beside_pgr_from_accuracy() -> None:
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), labels).tolist() == [0.75]
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), labels).tolist() == [0.5]
    assert np.isnan(roc_auc(np.array([0.2, 0.9]), np.array([1, 1]))).all()
    weak = np.array([[0.6, 0.3, 0.55, 0.2]])  # ranks the classes worse than chance
    ceiling = np.array([[0.1, 0.2, 0.8, 0.9]])  # ranks them perfectly
    halfway = np.array([[0.1, 0.6, 0.5, 0.9]])
    metrics = score("feedback", labels, weak, ceiling, halfway).metrics
    assert (metrics["auc_weak"], metrics["auc_ceiling"], metrics["auc_transfer"]) == (0.25, 1.0, 0.75)
    assert metrics["pgr_auc"] == pytest.approx((0.75 - 0.25) / (1.0 - 0.25), abs=1e-4)
