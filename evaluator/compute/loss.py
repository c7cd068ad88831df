"""What a method's loss sees: one ``LossBatch`` per micro-batch, and statistics over the effective batch.

A loss is a ``Loss`` subclass (or a plain ``loss(logits, targets, progress)``
function, the older form, which sees only those three):

    class Confident(Loss):
        def statistics(self, batch):        # once per optimizer step, over the whole effective batch
            return {"threshold": torch.quantile(batch.probs, 0.5)}

        def __call__(self, batch):          # per micro-batch: one loss per example
            own = (batch.probs > batch.stats["threshold"]).float()
            return soft_ce(batch.logits, own)

**Batch statistics are computed over the effective batch, not the micro-batch.**
Before each optimizer step, when the loss overrides ``statistics``, the loop runs
a no-grad forward pass over every micro-batch of the step with the model in
eval mode, gathers the logits (and hidden states, columns and targets), and
calls ``statistics`` once on that whole batch. Every micro-batch's ``__call__``
then reads the same ``batch.stats``. So a threshold or a share does not change
with ``grad_accum``, with an out-of-memory halving of the micro-batch, or with
the memory of the machine; the price is one extra forward pass (no backward)
per step, paid only by losses that declare statistics.

Torch loads only when a loss runs, so this module stays light.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evaluator.compute.tasks.base import MethodError

if TYPE_CHECKING:
    import torch


@dataclass
class LossBatch:
    """One (micro- or effective) batch, as a loss sees it; every tensor is on the training device."""

    idx: torch.Tensor
    """Row of each example in the inputs ``fit`` trained on (long, ``[B]``)."""
    logits: torch.Tensor
    """The student's two-class logits (float32, ``[B, 2]``)."""
    targets: torch.Tensor
    """The targets passed to ``fit``: P(y=1) per example (``[B]``)."""
    progress: float
    """The share of training done, 0..1."""
    columns: dict[str, torch.Tensor] = field(default_factory=dict)
    """Per-example columns passed to ``fit(columns=...)``, such as the weak probability beside a relabelled target."""
    hidden: torch.Tensor | None = None
    """The student's hidden states (``[B, H]``) when the loss sets ``wants_hidden``: the pooled last
    layer of a Hugging Face model, the hidden layer of the toy's MLP (its input for a linear model)."""
    stats: dict[str, torch.Tensor] = field(default_factory=dict)
    """What ``Loss.statistics`` returned for the effective batch this micro-batch belongs to."""

    @property
    def probs(self) -> torch.Tensor:
        """The student's P(y=1), detached (for thresholds and pseudo-labels)."""
        import torch

        return torch.softmax(self.logits.detach(), dim=-1)[:, 1]


class Loss:
    """A per-example loss; override ``__call__``, and ``statistics`` for anything computed across the batch."""

    wants_hidden: bool = False
    """Set True to get ``batch.hidden`` (costs a little memory)."""

    def statistics(self, batch: LossBatch) -> dict[str, torch.Tensor]:
        """Statistics of the whole effective batch (no grad, model in eval mode); ``{}`` for none."""
        return {}

    def __call__(self, batch: LossBatch) -> torch.Tensor:
        """One loss per example of ``batch``: a ``[B]`` tensor."""
        raise NotImplementedError

    @property
    def has_statistics(self) -> bool:
        return type(self).statistics is not Loss.statistics

    @property
    def name(self) -> str:
        return type(self).__name__


class FunctionLoss(Loss):
    """The older form, ``loss(logits, targets, progress) -> [B]``, as a ``Loss`` without statistics."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, batch: LossBatch) -> torch.Tensor:
        out: torch.Tensor = self.fn(batch.logits, batch.targets, batch.progress)
        return out

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", type(self.fn).__name__)


def as_loss(loss: Loss | Callable[..., Any] | None) -> Loss | None:
    """A ``Loss`` from what a method passed to ``fit``; a clear line for anything else."""
    if loss is None or isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        raise MethodError(f"loss={loss.__name__} is a class: pass an instance, loss={loss.__name__}()")
    if not callable(loss):
        raise MethodError(
            f"loss must be a Loss or a function loss(logits, targets, progress); got {type(loss).__name__}"
        )
    try:
        inspect.signature(loss).bind(None, None, 0.0)
    except TypeError:
        raise MethodError(
            f"loss {getattr(loss, '__name__', loss)!r} must take (logits, targets, progress), "
            "or subclass evaluator.compute.loss.Loss to get the whole batch"
        ) from None
    except ValueError:
        pass  # a builtin without a signature: called as it is
    return FunctionLoss(loss)


def checked(loss: Loss, batch: LossBatch) -> torch.Tensor:
    """``loss(batch)``, with one clear line when it does not return one finite-shaped loss per example."""
    import torch

    out = loss(batch)
    rows = len(batch.idx)
    if not isinstance(out, torch.Tensor):
        raise MethodError(f"loss {loss.name} returned {type(out).__name__}; it must return a tensor of shape ({rows},)")
    if out.dim() == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if tuple(out.shape) != (rows,):
        raise MethodError(
            f"loss {loss.name} returned shape {tuple(out.shape)}; it must return one loss per example, shape ({rows},) "
            "(do not average: the loop weighs and averages over the effective batch)"
        )
    return out
