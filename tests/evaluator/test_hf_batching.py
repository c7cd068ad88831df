"""Length-bucketed batches: every row once per epoch, the same per seed, little padding."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluator.compute.hf.batching import epoch_batches, padded_tokens, predict_batches


def lognormal_lengths(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(mean=4.0, sigma=0.6, size=n).astype(np.int64), 1, 256)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 400),
    batch_size=st.integers(1, 40),
    seed=st.integers(0, 2**31),
    epoch=st.integers(0, 5),
    max_tokens=st.sampled_from([0, 1, 64, 500, 4096]),
)
def test_every_row_exactly_once_per_epoch(n: int, batch_size: int, seed: int, epoch: int, max_tokens: int) -> None:
    lengths = lognormal_lengths(n, seed % 1000)
    batches = epoch_batches(lengths, batch_size, seed=seed, epoch=epoch, max_tokens=max_tokens)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(n))
    for b in batches:
        assert len(b) >= 1
        if max_tokens:
            assert len(b) == 1 or len(b) * lengths[b].max() <= max_tokens, "a batch passes the token budget"
        else:
            assert len(b) <= batch_size
    assert sorted(np.concatenate(predict_batches(lengths, batch_size, max_tokens)).tolist()) == list(range(n))


def test_batches_are_the_same_per_seed_and_differ_across_seeds_and_epochs() -> None:
    lengths = lognormal_lengths(300)

    def plan(seed: int, epoch: int) -> list[list[int]]:
        return [b.tolist() for b in epoch_batches(lengths, 16, seed=seed, epoch=epoch)]

    assert plan(3, 0) == plan(3, 0)
    assert plan(3, 0) != plan(4, 0)
    assert plan(3, 0) != plan(3, 1)
    # Shuffled across buckets: the first batch is not always the longest rows.
    firsts = {tuple(plan(s, 0)[0]) for s in range(5)}
    assert len(firsts) == 5


def test_equal_lengths_are_shuffled_within_their_bucket() -> None:
    lengths = np.full(64, 10)
    a = epoch_batches(lengths, 8, seed=0, epoch=0)
    b = epoch_batches(lengths, 8, seed=1, epoch=0)
    assert {tuple(sorted(x.tolist())) for x in a} != {tuple(sorted(x.tolist())) for x in b}


def test_bucketing_pads_far_less_than_random_batches() -> None:
    lengths = lognormal_lengths(256)
    real = int(lengths.sum())
    bucketed = padded_tokens(epoch_batches(lengths, 16, seed=0, epoch=0), lengths)
    perm = np.random.default_rng(0).permutation(256)
    shuffled = padded_tokens([perm[i : i + 16] for i in range(0, 256, 16)], lengths)
    whole_split = 256 * int(lengths.max())
    assert real / bucketed >= 0.85
    assert real / shuffled < 0.75 and real / whole_split < 0.4
    assert real / padded_tokens(predict_batches(lengths, 64), lengths) >= 0.8


def test_token_budget_fits_more_short_rows_in_a_batch() -> None:
    lengths = np.array([200] * 4 + [10] * 40)
    batches = epoch_batches(lengths, 4, seed=0, epoch=0, max_tokens=400)
    sizes = sorted(len(b) for b in batches)
    assert sizes[0] == 2 and sizes[-1] == 40, sizes
