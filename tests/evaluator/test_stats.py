"""PGR and its interval: the arithmetic every leaderboard number rests on."""

from __future__ import annotations

import numpy as np
import pytest

from evaluator.daemon.stats import correct, difference_ci, pgr, pgr_with_ci
from tests.evaluator.helpers import interval


def _rows(acc: float, seeds: int = 3, n: int = 1000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((seeds, n)) < acc).astype(float)


def test_pgr_point_estimate() -> None:
    assert pgr(0.8, 0.7, 0.9) == pytest.approx(0.5)
    assert pgr(0.7, 0.7, 0.9) == 0.0
    assert pgr(0.9, 0.7, 0.9) == pytest.approx(1.0)
    assert pgr(0.95, 0.7, 0.9) == pytest.approx(1.25)  # above the ceiling is allowed, not clipped


def test_no_pgr_when_ceiling_not_above_weak() -> None:
    assert pgr(0.8, 0.9, 0.9) is None
    assert pgr(0.8, 0.9, 0.85) is None
    weak = np.ones((2, 10))
    result = pgr_with_ci(weak, weak, weak)
    assert result.pgr is None and result.ci_low is None and "no PGR" in result.note


@pytest.mark.slow
def test_interval_contains_the_estimate_and_shrinks_with_more_examples() -> None:
    small = pgr_with_ci(_rows(0.7, n=400), _rows(0.9, n=400, seed=1), _rows(0.8, n=400, seed=2))
    large = pgr_with_ci(_rows(0.7, n=8000), _rows(0.9, n=8000, seed=1), _rows(0.8, n=8000, seed=2))
    intervals = [interval(small), interval(large)]
    for low, estimate, high in intervals:
        assert low < estimate < high
        assert estimate == pytest.approx(0.5, abs=0.1)
    (s_low, _, s_high), (l_low, _, l_high) = intervals
    assert (l_high - l_low) < 0.6 * (s_high - s_low)


def test_accuracies_are_means_over_seeds_and_a_single_row_pairs_with_every_seed() -> None:
    labels = np.array([0, 1, 1, 0])
    weak = correct(np.array([[0, 0, 0, 0], [1, 1, 1, 1]]), labels)  # 0.5 each
    ceiling = correct(np.array([[0, 1, 1, 0], [0, 1, 1, 1]]), labels)  # 1.0, 0.75
    transfer = correct(np.array([[0, 1, 0, 0]]), labels)  # 0.75, one prediction file
    result = pgr_with_ci(weak, ceiling, transfer, resamples=200)
    assert (result.acc_weak, result.acc_ceiling, result.acc_transfer) == (0.5, 0.875, 0.75)
    assert result.pgr == pytest.approx((0.75 - 0.5) / (0.875 - 0.5))


def test_shapes_that_do_not_pair_are_an_error() -> None:
    with pytest.raises(ValueError, match="do not pair"):
        pgr_with_ci(np.ones((3, 10)), np.ones((3, 10)), np.ones((2, 10)))


def test_paired_difference_sees_a_consistent_gain() -> None:
    weak, ceiling = _rows(0.7), _rows(0.9, seed=1)
    base = _rows(0.75, seed=2)
    better = np.maximum(base, _rows(0.3, seed=3))  # right wherever base is, and on some more
    difference = difference_ci(weak, ceiling, better, base)
    assert difference is not None, "both PGRs exist"
    diff, low, high = difference
    assert diff > 0 and low > 0 and low < diff < high
