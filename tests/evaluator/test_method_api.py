"""The method API on the toy task: what a loss sees, statistics over the effective batch, callbacks, the
best checkpoint, warm start, schedules, embeddings, and one clear line for each misuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from evaluator.compute.context import MethodContext, Student
from evaluator.compute.hooks import TrainState, lr_factor
from evaluator.compute.loss import Loss, LossBatch
from evaluator.compute.methods.confidence import AuxLoss
from evaluator.compute.pipeline import make_context, public_view, train_weak
from evaluator.compute.tasks.base import MethodError, Recipe
from evaluator.compute.tasks.mlp import MLPLearner
from evaluator.compute.tasks.toy import ToyParams, ToyTask
from evaluator.compute.training import Batching, fit_loop, soft_ce


@pytest.fixture(scope="module")
def ctx() -> MethodContext:
    task = ToyTask(ToyParams(size=400, data_seed=0))
    data = task.load()
    weak = np.asarray(train_weak(task, data, 0, "cpu").train_probs)
    return make_context(task, public_view(data), weak, 0, "cpu")


def weights(student: Student) -> list[torch.Tensor]:
    return [p.detach().clone() for p in student.model.parameters()]


class Recorder(Loss):
    """Soft cross-entropy that keeps what it was given."""

    def __init__(self, wants_hidden: bool = False) -> None:
        self.wants_hidden = wants_hidden
        self.seen: list[LossBatch] = []

    def __call__(self, batch: LossBatch) -> torch.Tensor:
        self.seen.append(batch)
        return soft_ce(batch.logits, batch.targets)


def test_a_loss_sees_indices_columns_progress_and_hidden_states(ctx: MethodContext) -> None:
    relabelled = 1 - ctx.weak_probs
    loss = Recorder(wants_hidden=True)
    ctx.fit(relabelled, loss=loss, columns={"weak": ctx.weak_probs}, epochs=1, batch_size=100)
    assert len(loss.seen) == 4  # 400 rows, batches of 100
    rows = torch.cat([b.idx for b in loss.seen]).numpy()
    assert sorted(rows) == list(range(400)), "every row once per epoch, by its index"
    for b in loss.seen:
        np.testing.assert_allclose(b.columns["weak"].numpy(), ctx.weak_probs[b.idx.numpy()], atol=1e-6)
        np.testing.assert_allclose(b.targets.numpy(), relabelled[b.idx.numpy()], atol=1e-6)
        assert b.hidden is not None and b.hidden.shape == (len(b.idx), 64), "the MLP's hidden layer"
    assert [b.progress for b in loss.seen] == [0.0, 0.25, 0.5, 0.75]
    plain = Recorder()
    ctx.fit(ctx.weak_probs, loss=plain, epochs=1, batch_size=200)
    assert all(b.hidden is None for b in plain.seen), "hidden states only on request"


def test_columns_follow_a_subset_of_rows(ctx: MethodContext) -> None:
    loss = Recorder()
    idx = np.arange(0, 400, 2)
    ctx.fit(ctx.weak_probs, idx=idx, loss=loss, columns={"row": np.arange(400.0)}, epochs=1, batch_size=50)
    for b in loss.seen:
        # idx is the row in the subset the fit trained on; the column came along with it.
        np.testing.assert_array_equal(b.columns["row"].numpy(), idx[b.idx.numpy()])


class Thresholds(AuxLoss):
    """The reference confidence loss, keeping each effective batch's threshold."""

    def __init__(self) -> None:
        super().__init__(aux_weight=0.75, warmup=0.0)
        self.thresholds: list[float] = []

    def statistics(self, batch: LossBatch) -> dict[str, torch.Tensor]:
        stats = super().statistics(batch)
        self.thresholds.append(float(stats["threshold"]))
        return stats


class PerMicroBatch(Loss):
    """What the old confidence loss did: the quantile of whatever micro-batch it was given."""

    def __init__(self) -> None:
        self.thresholds: list[float] = []

    def __call__(self, batch: LossBatch) -> torch.Tensor:
        self.thresholds.append(float(torch.quantile(batch.probs, 0.5)))
        return soft_ce(batch.logits, (batch.probs > self.thresholds[-1]).float())


def _train(loss: Loss, micro_batch: int) -> torch.nn.Module:
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.standard_normal((256, 6)), dtype=torch.float32)
    targets = (x[:, 0] > 0).numpy().astype(np.float64)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

    def forward(idx: torch.Tensor, hidden: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        return model(x[idx]), None

    return fit_loop(
        model,
        forward,
        targets,
        recipe=Recipe(epochs=2, lr=1e-2, batch_size=64),
        seed=0,
        device="cpu",
        loss=loss,
        batching=Batching(micro_batch=micro_batch),
    )


def test_batch_statistics_are_the_same_whatever_the_gradient_accumulation() -> None:
    whole, accumulated = Thresholds(), Thresholds()
    a = _train(whole, micro_batch=0)
    b = _train(accumulated, micro_batch=16)  # grad_accum = 4
    assert len(whole.thresholds) == len(accumulated.thresholds) == 8, "once per optimizer step"
    np.testing.assert_allclose(whole.thresholds, accumulated.thresholds, atol=1e-5)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)
    # The old per-micro-batch form moves with the micro-batch: the defect the statistics fix.
    old_whole, old_split = PerMicroBatch(), PerMicroBatch()
    _train(old_whole, micro_batch=0)
    _train(old_split, micro_batch=16)
    assert len(old_split.thresholds) == 4 * len(old_whole.thresholds)
    assert not np.allclose(old_split.thresholds[:4], old_whole.thresholds[0], atol=1e-3)


def test_a_callback_stops_training(ctx: MethodContext) -> None:
    steps: list[int] = []

    def stop_at_three(state: TrainState) -> None:
        steps.append(state.step)
        assert isinstance(state.student, Student)
        assert len(state.student.predict_proba()) == len(ctx.test_x), "a callback can read the student"
        if state.step == 3:
            state.stop()

    ctx.fit(ctx.weak_probs, on_step=stop_at_three, epochs=5, batch_size=100)
    assert steps == [1, 2, 3], "no step after stop()"


def test_the_best_checkpoint_is_the_one_returned(ctx: MethodContext) -> None:
    scores = iter([0.2, 0.9, 0.4, 0.1])
    at_epoch: list[list[torch.Tensor]] = []
    seen_epochs: list[float] = []

    def snapshot(state: TrainState) -> None:
        seen_epochs.append(state.epoch)
        at_epoch.append([p.detach().clone() for p in state.model.parameters()])

    student = ctx.fit(ctx.weak_probs, epochs=4, batch_size=200, on_epoch=snapshot, best_by=lambda s: next(scores))
    assert seen_epochs == [1.0, 2.0, 3.0, 4.0]
    for kept, best in zip(weights(student), at_epoch[1], strict=True):
        torch.testing.assert_close(kept, best)
    assert any(not torch.equal(a, b) for a, b in zip(weights(student), at_epoch[-1], strict=True))
    assert any("best checkpoint: epoch 2" in line for line in ctx.logs)


def test_warm_start_continues_from_the_student_and_leaves_it_alone(ctx: MethodContext) -> None:
    first = ctx.fit(ctx.weak_probs, epochs=3, batch_size=50)  # 24 steps from the seed's initialisation
    before = weights(first)
    starts: list[list[torch.Tensor]] = []

    def at_first_step(state: TrainState) -> None:
        if state.step == 1:
            starts.append([p.detach().clone() for p in state.model.parameters()])

    second = ctx.fit(ctx.weak_labels, init=first, epochs=1, lr=1e-6, on_step=at_first_step)
    for a, b in zip(before, weights(first), strict=True):
        assert torch.equal(a, b), "the returned student is not trained further in place"
    for a, b in zip(before, starts[0], strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)  # one tiny step from the first student's weights
    assert second.model is not first.model
    # Without init, the same tiny step starts from the seed's initialisation, far from the first student.
    fresh = ctx.fit(ctx.weak_labels, epochs=1, lr=1e-6, batch_size=400)
    assert any(not torch.allclose(a, b, atol=1e-2) for a, b in zip(before, weights(fresh), strict=True))


def test_learning_rate_schedules() -> None:
    cosine = Recipe(epochs=1, lr=1.0, batch_size=1, schedule="cosine", warmup=0.1)
    factors = [lr_factor(cosine, s, 100) for s in range(100)]
    assert factors[0] < factors[5] < factors[9] <= 1.0, "linear warm-up over the first 10 steps"
    assert factors[10] == pytest.approx(1.0)
    assert factors[55] == pytest.approx(0.5, abs=0.02) and factors[-1] < 0.01
    linear = Recipe(epochs=1, lr=1.0, batch_size=1, schedule="linear")
    assert [lr_factor(linear, s, 4) for s in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert all(lr_factor(Recipe(epochs=1, lr=1, batch_size=1), s, 9) == 1.0 for s in range(9))
    with pytest.raises(MethodError, match="not one of constant, linear, cosine"):
        Recipe(epochs=1, lr=1.0, batch_size=1, schedule="step")


def test_a_schedule_changes_training(ctx: MethodContext) -> None:
    constant = ctx.fit(ctx.weak_probs, epochs=2)
    cosine = ctx.fit(ctx.weak_probs, epochs=2, schedule="cosine", warmup=0.2)
    assert any(not torch.allclose(a, b) for a, b in zip(weights(constant), weights(cosine), strict=True))


def test_embeddings_on_toy(ctx: MethodContext) -> None:
    frozen = ctx.embed()
    np.testing.assert_array_equal(frozen, ctx.train_x)  # the toy's frozen features are the strong view
    assert ctx.embed() is frozen, "the second call on a split is a lookup"
    assert ctx.embed(ctx.test_x).shape == (len(ctx.test_x), ctx.train_x.shape[1])
    student = ctx.fit(ctx.weak_probs, epochs=1)
    features = student.embed(ctx.train_x)
    assert features.shape == (len(ctx.train_x), 64) and (features >= 0).all(), "the ReLU layer"
    np.testing.assert_array_equal(student.embed(ctx.train_x, layer=0), ctx.train_x)
    logits = student.logits(ctx.train_x)
    np.testing.assert_allclose(
        torch.softmax(torch.as_tensor(logits), -1)[:, 1].numpy(), student.predict_train(), atol=1e-6
    )
    with pytest.raises(MethodError, match=r"layer 2 is out of range: this model has 2 hidden state\(s\), layers -2..1"):
        student.embed(layer=2)
    with pytest.raises(MethodError, match="zero_shot prompts a language model"):
        ctx.zero_shot(["a"], "{x}", ["yes", "no"])


class WrongShape(Loss):
    def __call__(self, batch: LossBatch) -> torch.Tensor:
        return soft_ce(batch.logits, batch.targets).mean()


def test_misuse_gets_one_clear_line(ctx: MethodContext) -> None:
    with pytest.raises(MethodError, match=r"loss WrongShape returned shape \(\); it must return one loss per example"):
        ctx.fit(ctx.weak_probs, loss=WrongShape(), epochs=1)
    with pytest.raises(MethodError, match="is a class: pass an instance"):
        ctx.fit(ctx.weak_probs, loss=WrongShape, epochs=1)  # LossFn is Any: the class itself is the misuse under test

    def broken(state: TrainState) -> None:
        raise KeyError("missing")

    with pytest.raises(MethodError, match="the on_epoch callback broken raised KeyError: 'missing'"):
        ctx.fit(ctx.weak_probs, on_epoch=broken, epochs=1)
    with pytest.raises(MethodError, match="column 'weak' has 3 values for 400 inputs"):
        ctx.fit(ctx.weak_probs, columns={"weak": np.zeros(3)}, epochs=1)
    with pytest.raises(MethodError, match="best_by returned str"):
        ctx.fit(ctx.weak_probs, best_by=lambda s: "high", epochs=1)  # type: ignore[arg-type,return-value]  # misuse under test


def test_the_weak_models_test_predictions_travel_in_the_bundle(tmp_path: Path) -> None:
    from evaluator.daemon.bundle import WeakLabels, read_bundle, write_bundle

    task = ToyTask(ToyParams(size=400, data_seed=0))
    data = task.load()
    weak = train_weak(task, data, 0, "cpu")
    write_bundle(task, data, {0: WeakLabels(weak.train_probs, weak.test_probs)}, tmp_path / "task")
    bundle = read_bundle(tmp_path / "task")
    ctx = make_context(bundle.task, bundle.data, bundle.weak_probs[0], 0, "cpu", weak_test_probs=bundle.weak_test[0])
    assert ctx.weak_test_probs is not None and len(ctx.weak_test_probs) == len(ctx.test_x) == 400
    np.testing.assert_allclose(ctx.weak_test_probs, weak.test_probs, atol=1e-6)
    # The weak learner retrained on the weak labels reproduces them on the test inputs (the same view).
    assert ctx.weak_learner is not None
    refit = ctx.weak_learner.fit(ctx.weak_x, ctx.weak_probs, recipe=task.weak_recipe, seed=0, device="cpu")
    agree = (ctx.weak_learner.predict_proba(refit, ctx.weak_test_x, device="cpu") > 0.5) == (ctx.weak_test_probs > 0.5)
    assert agree.mean() > 0.9
    write_bundle(task, data, {0: weak.train_probs}, tmp_path / "old")
    assert read_bundle(tmp_path / "old").weak_test == {}, "a bundle without them reads back as none"


METHOD = """
from evaluator.compute.loss import Loss

class Flat(Loss):
    def __call__(self, batch):
        return batch.logits

def run(ctx):
    return ctx.fit(ctx.weak_probs, loss=Flat(), epochs=1).predict_proba()
"""


@pytest.mark.slow
def test_the_runner_ends_with_the_line(tmp_path: Path) -> None:
    """In a sandbox, what the agent reads last is the API's line, after the traceback."""
    import subprocess
    import sys

    from evaluator.daemon.bundle import write_bundle

    task = ToyTask(ToyParams(size=400, data_seed=0))
    data = task.load()
    write_bundle(task, data, {0: train_weak(task, data, 0, "cpu").train_probs}, tmp_path / "task")
    (tmp_path / "m.py").write_text(METHOD)
    done = subprocess.run(
        [sys.executable, "-m", "evaluator.compute.run_method", "m.py", "--threads", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: m: loss Flat returned shape (")
    assert "it must return one loss per example" in last
    assert not (tmp_path / "preds.json").exists()
