"""Callbacks during training, the best checkpoint by a method's metric, and the learning-rate schedule.

``ctx.fit(..., on_step=f, on_epoch=g, best_by=m)``: ``f`` runs after every
optimizer step and ``g`` after every epoch (the last, partial one included),
each with a ``TrainState`` whose ``student`` can predict, embed and score, and
whose ``stop()`` ends training after this step. ``m(student) -> float`` is
evaluated at the end of every epoch; the weights with the highest value are
the ones ``fit`` returns (a copy is kept on the CPU). A callback that raises
fails the fit with one line naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evaluator.compute.tasks.base import MethodError, Recipe


@dataclass
class TrainState:
    """Where training is, for a callback."""

    step: int
    """Optimizer steps done."""
    total: int
    """Optimizer steps planned."""
    epoch: float
    """Epochs done (the last may be a share of one)."""
    model: Any
    student: Any = None
    """The student being trained (a ``Student``: ``predict_proba``, ``embed``, ``logits``); its weights move on after."""
    stopped: bool = False
    metric: float | None = None
    """This epoch's ``best_by`` value (in ``on_epoch``, where ``best_by`` is given)."""
    best: float | None = None
    """The best ``best_by`` value so far, this epoch's included."""

    @property
    def progress(self) -> float:
        return self.step / max(1, self.total)

    def stop(self) -> None:
        """End training after this step (the best checkpoint, if any, is still the one returned)."""
        self.stopped = True


Callback = Callable[[TrainState], Any]


@dataclass
class Hooks:
    on_step: Callback | None = None
    on_epoch: Callback | None = None
    best_by: Callable[[Any], float] | None = None
    """``best_by(student) -> float``: higher is better, evaluated after every epoch."""
    wrap: Callable[[Any], Any] = lambda model: model
    """Makes the ``student`` a callback sees from the model (the method context's ``Student``)."""
    log: Callable[[str], None] | None = None
    best_weights: dict[str, Any] | None = field(default=None, repr=False)
    best_epoch: float = 0.0
    best: float | None = None

    def state(self, model: Any, step: int, total: int, epoch: float) -> TrainState:
        return TrainState(step=step, total=total, epoch=epoch, model=model, student=self.wrap(model))

    def after_step(self, state: TrainState) -> None:
        _call("on_step", self.on_step, state)

    def after_epoch(self, state: TrainState) -> None:
        """The metric first (so ``on_epoch`` sees this epoch's ``metric`` and the ``best`` so far), then ``on_epoch``."""
        if self.best_by is not None:
            value = _call("best_by", self.best_by, state.student)
            try:
                score = float(value)
            except (TypeError, ValueError):
                raise MethodError(
                    f"best_by returned {type(value).__name__}; it must return a number (higher is better)"
                ) from None
            if math.isnan(score):
                raise MethodError("best_by returned NaN; it must return a number (higher is better)")
            if self.best is None or score > self.best:
                self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in state.model.state_dict().items()}
                self.best_epoch = state.epoch
                self.best = score
            state.metric, state.best = score, self.best
        _call("on_epoch", self.on_epoch, state)

    def restore(self, model: Any) -> None:
        """Load the best weights, when a metric chose some."""
        if self.best_weights is None:
            return
        model.load_state_dict(self.best_weights)
        if self.log is not None:
            self.log(f"best checkpoint: epoch {self.best_epoch:g} (best_by {self.best:.4g})")


def _call(name: str, fn: Callable[[Any], Any] | None, arg: Any) -> Any:
    if fn is None:
        return None
    try:
        return fn(arg)
    except MethodError:
        raise
    except Exception as exc:
        label = getattr(fn, "__name__", type(fn).__name__)
        raise MethodError(f"the {name} callback {label} raised {type(exc).__name__}: {exc}") from exc


def lr_factor(recipe: Recipe, step: int, total: int) -> float:
    """The learning rate's multiplier at optimizer step ``step`` of ``total``: linear warm-up, then the schedule."""
    warm = round(recipe.warmup * total)
    if step < warm:
        return (step + 1) / (warm + 1)
    if recipe.schedule == "constant":
        return 1.0
    done = (step - warm) / max(1, total - warm)
    if recipe.schedule == "linear":
        return max(0.0, 1.0 - done)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))
