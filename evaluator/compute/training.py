"""The one training loop every learner uses (toy MLPs and Hugging Face classifiers).

Imported only where torch may load: the worker process and the method runner.
Targets are soft (P(y=1) per example) so weak labels keep their confidence;
a custom loss returns per-example losses so example weights compose with it.

A ``Batching`` tells the loop how to draw batches (the toy's default: shuffled
rows), how to split a batch into micro-batches whose gradients accumulate, and
whether to run the forward pass under bf16 autocast (the weights, the
optimizer state and the loss stay fp32). An out-of-memory error on a
micro-batch halves it and runs the batch again: the optimizer step, and so
the effective batch, is the same; one line says so.

A loss sees a ``LossBatch`` per micro-batch and, when it declares statistics,
the statistics of the whole effective batch (``evaluator.compute.loss``).
Callbacks, the best checkpoint and the learning-rate schedule are in
``evaluator.compute.hooks``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from evaluator.compute.adamw import EagerAdamW
from evaluator.compute.hooks import Hooks, lr_factor
from evaluator.compute.loss import FunctionLoss, Loss, LossBatch, as_loss, checked
from evaluator.compute.tasks.base import LossFn, MethodError, Progress, Recipe


def resolve_device(device: str) -> str:
    """``auto`` means CUDA when torch sees a GPU, else the CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def soft_ce(logits: torch.Tensor, targets: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """Cross-entropy of two-class logits against P(y=1) targets, per example."""
    logp = F.log_softmax(logits, dim=-1)
    return -(targets * logp[:, 1] + (1 - targets) * logp[:, 0])


@dataclass
class Batching:
    """How ``fit_loop`` draws, splits and runs batches; the defaults are the toy's."""

    plan: Callable[[int], list[np.ndarray]] | None = None
    """``plan(epoch)``: the batches (row indices) of an epoch; None shuffles rows into ``recipe.batch_size``."""
    lengths: np.ndarray | None = None
    """Tokens per row: a micro-batch's padded size is its rows x its longest row (1 per row when None)."""
    micro_batch: int = 0
    """Rows per forward/backward pass; gradients accumulate to the whole batch (0: the whole batch at once)."""
    autocast: torch.dtype | None = None
    """Run the forward pass under autocast to this dtype (bf16); None runs in the weights' dtype."""
    fused: bool = False
    """Use the fused AdamW kernel (CUDA)."""
    on_step: Callable[[list[np.ndarray]], None] | None = None
    """Called with the micro-batches of every optimizer step that completed."""
    log: Callable[[str], None] | None = None
    """Where the out-of-memory line goes."""


class _MicroBatches:
    """Splits a batch into micro-batches under a row and a padded-token cap; the OOM backoff halves them."""

    def __init__(self, batching: Batching) -> None:
        self.lengths = batching.lengths
        self.rows = batching.micro_batch or 1 << 62
        self.tokens = 1 << 62

    def padded(self, chunk: np.ndarray) -> int:
        return len(chunk) * (1 if self.lengths is None else int(self.lengths[chunk].max()))

    def split(self, batch: np.ndarray) -> list[np.ndarray]:
        if self.lengths is None:
            return (
                [batch[i : i + self.rows] for i in range(0, len(batch), self.rows)]
                if len(batch) > self.rows
                else [batch]
            )
        # Longest first, so each chunk's first row sets its width.
        batch = batch[np.argsort(-self.lengths[batch], kind="stable")]
        chunks, start = [], 0
        while start < len(batch):
            width = int(self.lengths[batch[start]])
            take = max(1, min(self.rows, self.tokens // max(1, width)))
            chunks.append(batch[start : start + take])
            start += take
        return chunks

    def halve(self, failed: np.ndarray) -> str:
        """Halve the cap below the micro-batch that ran out of memory; the line to log."""
        rows = max(1, len(failed) // 2)
        self.rows = min(self.rows, rows)
        self.tokens = min(self.tokens, max(1, self.padded(failed) // 2))
        return f"out of memory on a micro-batch of {len(failed)} rows ({self.padded(failed)} padded tokens); micro-batch halved to {rows} rows, gradients accumulate so the effective batch is unchanged"


def _shuffled(n: int, bs: int, gen: torch.Generator) -> Callable[[int], list[np.ndarray]]:
    def plan(epoch: int) -> list[np.ndarray]:
        perm = torch.randperm(n, generator=gen).numpy()
        return [perm[start : start + bs] for start in range(0, n, bs)]

    return plan


def _steps(plan: Callable[[int], list[np.ndarray]], epochs: float) -> Iterator[tuple[np.ndarray, int, float | None]]:
    """Every batch of each whole epoch, then the leading share of the last, partial one; with the step
    total, and the epochs done where a batch ends an epoch (None elsewhere)."""
    epoch, total = 0, 0
    while True:
        batches = plan(epoch)
        if epoch == 0:
            total = max(1, math.ceil(epochs * len(batches)))
        take = len(batches) if epoch + 1 <= epochs else max(1, math.ceil((epochs - epoch) * len(batches)))
        for i, batch in enumerate(batches[:take]):
            yield batch, total, (min(float(epochs), epoch + 1.0) if i == take - 1 else None)
        epoch += 1
        if epoch >= epochs:
            return


class _OutOfMemory(Exception):
    """A micro-batch ran out of device memory (the micro-batch rides along)."""

    def __init__(self, chunk: np.ndarray) -> None:
        super().__init__(f"out of memory on {len(chunk)} rows")
        self.chunk = chunk


Forward = Callable[[torch.Tensor, bool], tuple[torch.Tensor, torch.Tensor | None]]
"""``forward(idx, hidden)``: the logits of the examples at ``idx`` (a CPU long tensor), and their
hidden states when ``hidden`` is true (else None)."""


@dataclass
class _Step:
    """What every micro-batch of one optimizer step shares."""

    model: torch.nn.Module
    forward: Forward
    loss: Loss
    targets: torch.Tensor
    weights: torch.Tensor | None
    columns: dict[str, torch.Tensor]
    device: str
    device_type: str
    batching: Batching

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.batching.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.batching.autocast)

    def batch(self, chunk: np.ndarray, progress: float, stats: dict[str, torch.Tensor]) -> LossBatch:
        idx = torch.as_tensor(chunk, dtype=torch.long)
        with self.autocast():
            logits, hidden = self.forward(idx, self.loss.wants_hidden)
        dev = idx.to(self.device)
        return LossBatch(
            idx=dev,
            logits=logits.float(),
            targets=self.targets[dev],
            progress=progress,
            columns={k: v[dev] for k, v in self.columns.items()},
            hidden=None if hidden is None else hidden.float(),
            stats=stats,
        )

    def statistics(self, chunks: list[np.ndarray], progress: float) -> dict[str, torch.Tensor]:
        """``loss.statistics`` over the effective batch: every chunk's forward pass, no grad, eval mode."""
        if not self.loss.has_statistics:
            return {}
        parts = []
        self.model.eval()
        try:
            with torch.no_grad():
                for chunk in chunks:
                    try:
                        parts.append(self.batch(chunk, progress, {}))
                    except torch.OutOfMemoryError as exc:
                        raise _OutOfMemory(chunk) from exc
        finally:
            self.model.train()
        whole = LossBatch(
            idx=torch.cat([b.idx for b in parts]),
            logits=torch.cat([b.logits for b in parts]),
            targets=torch.cat([b.targets for b in parts]),
            progress=progress,
            columns={k: torch.cat([b.columns[k] for b in parts]) for k in self.columns},
            hidden=None if parts[0].hidden is None else torch.cat([b.hidden for b in parts if b.hidden is not None]),
        )
        try:
            stats = self.loss.statistics(whole)
        except MethodError:
            raise
        except Exception as exc:
            raise MethodError(f"loss {self.loss.name}: statistics raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(stats, dict):
            raise MethodError(
                f"loss {self.loss.name}: statistics must return a dict of tensors; got {type(stats).__name__}"
            )
        return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in stats.items()}

    def accumulate(self, batch: np.ndarray, chunks: list[np.ndarray], progress: float) -> None:
        """Gradients of the batch's mean (or weighted mean) loss, one micro-batch at a time."""
        self.model.zero_grad(set_to_none=True)
        stats = self.statistics(chunks, progress)
        w = self.weights
        denom = float(len(batch)) if w is None else w[torch.as_tensor(batch).to(self.device)].sum().clamp_min(1e-8)
        for chunk in chunks:
            try:
                lb = self.batch(chunk, progress, stats)
                per_example = checked(self.loss, lb)
                value = (per_example.sum() if w is None else (per_example * w[lb.idx]).sum()) / denom
                value.backward()
            except torch.OutOfMemoryError as exc:
                raise _OutOfMemory(chunk) from exc


def fit_loop(
    model: torch.nn.Module,
    forward: Forward,
    targets: np.ndarray,
    *,
    recipe: Recipe,
    seed: int,
    device: str,
    loss: LossFn | None = None,
    weights: np.ndarray | None = None,
    columns: dict[str, np.ndarray] | None = None,
    progress: Progress | None = None,
    batching: Batching | None = None,
    hooks: Hooks | None = None,
) -> torch.nn.Module:
    """Minibatch AdamW for ``recipe.epochs`` (fractions allowed) over shuffled examples, with the
    recipe's learning-rate schedule; ``hooks`` run the method's callbacks and keep its best checkpoint."""
    n = len(targets)
    if n == 0:
        raise ValueError("cannot train on zero examples")
    batching = batching or Batching()
    step_ctx = _Step(
        model=model,
        forward=forward,
        loss=as_loss(loss) or FunctionLoss(soft_ce),
        targets=torch.as_tensor(np.asarray(targets, dtype=np.float32), device=device),
        weights=None if weights is None else torch.as_tensor(np.asarray(weights, dtype=np.float32), device=device),
        columns=_columns(columns, n, device),
        device=device,
        device_type=torch.device(device).type,
        batching=batching,
    )
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _optimizer(params, recipe, fused=batching.fused)
    gen = torch.Generator().manual_seed(seed)
    bs = max(1, min(recipe.batch_size, n))
    plan = batching.plan or _shuffled(n, bs, gen)
    micro = _MicroBatches(batching)
    model.train()
    for step, (batch, total, epoch_done) in enumerate(_steps(plan, recipe.epochs)):
        report_every = max(1, total // 20)
        while True:
            chunks = micro.split(batch)
            try:
                step_ctx.accumulate(batch, chunks, step / total)
                break
            except _OutOfMemory as oom:
                model.zero_grad(set_to_none=True)
                if len(oom.chunk) == 1:
                    raise oom.__cause__ or oom from None
                line = micro.halve(oom.chunk)
                if step_ctx.device_type == "cuda":
                    torch.cuda.empty_cache()
                if batching.log is not None:
                    batching.log(line)
        for group in opt.param_groups:
            group["lr"] = recipe.lr * lr_factor(recipe, step, total)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if batching.on_step is not None:
            batching.on_step(chunks)
        if progress is not None and (step + 1) % report_every == 0:
            progress((step + 1) / total)
        if hooks is not None and _after(hooks, model, step + 1, total, epoch_done):
            break
    model.eval()
    if hooks is not None:
        hooks.restore(model)
    return model


def _optimizer(params: list[torch.nn.Parameter], recipe: Recipe, *, fused: bool) -> Any:
    """torch's fused AdamW kernel where asked (CUDA); elsewhere the same arithmetic without ``torch.optim``,
    whose import of ``torch._dynamo`` would cost each fresh job process 2.5-3 s (``evaluator.compute.adamw``)."""
    if fused:
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay, fused=True)
    return EagerAdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def _after(hooks: Hooks, model: torch.nn.Module, step: int, total: int, epoch_done: float | None) -> bool:
    """Run the step's (and, at an epoch's end, the epoch's) callbacks; True when one asked to stop."""
    if hooks.on_step is None and epoch_done is None:
        return False
    model.eval()
    try:
        state = hooks.state(model, step, total, epoch_done if epoch_done is not None else 0.0)
        hooks.after_step(state)
        if epoch_done is not None or state.stopped:
            if epoch_done is None:  # stopped mid-epoch: the metric sees where it stopped
                state.epoch = step / total
            hooks.after_epoch(state)
    finally:
        model.train()
    return state.stopped


def _columns(columns: dict[str, np.ndarray] | None, n: int, device: str) -> dict[str, torch.Tensor]:
    out = {}
    for name, values in (columns or {}).items():
        array = np.asarray(values)
        if array.dtype.kind not in "biuf":
            raise MethodError(f"column {name!r} must be numbers; got {array.dtype}")
        if len(array) != n:
            raise MethodError(f"column {name!r} has {len(array)} rows; fit trains on {n}")
        out[name] = torch.as_tensor(array.astype(np.float32) if array.dtype.kind == "f" else array, device=device)
    return out


@torch.no_grad()
def predict_loop(forward: Callable[[torch.Tensor], torch.Tensor], n: int, *, batch_size: int = 4096) -> np.ndarray:
    """P(y=1) for ``n`` examples, batch by batch."""
    out = []
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(n, start + batch_size))
        out.append(torch.softmax(forward(idx).float(), dim=-1)[:, 1].cpu())
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)
