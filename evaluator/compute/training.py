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
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from evaluator.compute.tasks.base import LossFn, Progress, Recipe


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


def _steps(plan: Callable[[int], list[np.ndarray]], epochs: float) -> Iterator[tuple[np.ndarray, int]]:
    """Every batch of each whole epoch, then the leading share of the last, partial one; with the step total."""
    epoch, total = 0, 0
    while True:
        batches = plan(epoch)
        if epoch == 0:
            total = max(1, math.ceil(epochs * len(batches)))
        take = len(batches) if epoch + 1 <= epochs else max(1, math.ceil((epochs - epoch) * len(batches)))
        for batch in batches[:take]:
            yield batch, total
        epoch += 1
        if epoch >= epochs:
            return


class _OutOfMemory(Exception):
    """A micro-batch ran out of device memory (the micro-batch rides along)."""

    def __init__(self, chunk: np.ndarray) -> None:
        super().__init__(f"out of memory on {len(chunk)} rows")
        self.chunk = chunk


def fit_loop(
    model: torch.nn.Module,
    forward: Callable[[torch.Tensor], torch.Tensor],
    targets: np.ndarray,
    *,
    recipe: Recipe,
    seed: int,
    device: str,
    loss: LossFn | None = None,
    weights: np.ndarray | None = None,
    progress: Progress | None = None,
    batching: Batching | None = None,
) -> torch.nn.Module:
    """Minibatch AdamW for ``recipe.epochs`` (fractions allowed) over shuffled examples.

    ``forward(idx)`` returns the logits of the examples at ``idx`` (a CPU long tensor).
    """
    n = len(targets)
    if n == 0:
        raise ValueError("cannot train on zero examples")
    batching = batching or Batching()
    t = torch.as_tensor(np.asarray(targets, dtype=np.float32), device=device)
    w = None if weights is None else torch.as_tensor(np.asarray(weights, dtype=np.float32), device=device)
    loss_fn = loss or soft_ce
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay, fused=batching.fused or None)
    gen = torch.Generator().manual_seed(seed)
    bs = max(1, min(recipe.batch_size, n))
    plan = batching.plan or _shuffled(n, bs, gen)
    micro = _MicroBatches(batching)
    device_type = torch.device(device).type
    model.train()
    for step, (batch, total) in enumerate(_steps(plan, recipe.epochs)):
        report_every = max(1, total // 20)
        while True:
            chunks = micro.split(batch)
            try:
                _accumulate(model, forward, loss_fn, t, w, batch, chunks, step / total, device, device_type, batching)
                break
            except _OutOfMemory as oom:
                model.zero_grad(set_to_none=True)
                if len(oom.chunk) == 1:
                    raise oom.__cause__ or oom from None
                line = micro.halve(oom.chunk)
                if device_type == "cuda":
                    torch.cuda.empty_cache()
                if batching.log is not None:
                    batching.log(line)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if batching.on_step is not None:
            batching.on_step(chunks)
        if progress is not None and (step + 1) % report_every == 0:
            progress((step + 1) / total)
    model.eval()
    return model


def _accumulate(
    model: torch.nn.Module,
    forward: Callable[[torch.Tensor], torch.Tensor],
    loss_fn: LossFn,
    t: torch.Tensor,
    w: torch.Tensor | None,
    batch: np.ndarray,
    chunks: list[np.ndarray],
    progress: float,
    device: str,
    device_type: str,
    batching: Batching,
) -> None:
    """Gradients of the batch's mean (or weighted mean) loss, one micro-batch at a time."""
    model.zero_grad(set_to_none=True)
    denom = float(len(batch)) if w is None else w[torch.as_tensor(batch).to(device)].sum().clamp_min(1e-8)
    for chunk in chunks:
        idx = torch.as_tensor(chunk, dtype=torch.long)
        dev_idx = idx.to(device)
        autocast = (
            torch.autocast(device_type, dtype=batching.autocast)
            if batching.autocast is not None
            else contextlib.nullcontext()
        )
        try:
            with autocast:
                logits = forward(idx)
            per_example = loss_fn(logits.float(), t[dev_idx], progress)
            value = (per_example.sum() if w is None else (per_example * w[dev_idx]).sum()) / denom
            value.backward()
        except torch.OutOfMemoryError as exc:
            raise _OutOfMemory(chunk) from exc


@torch.no_grad()
def predict_loop(forward: Callable[[torch.Tensor], torch.Tensor], n: int, *, batch_size: int = 4096) -> np.ndarray:
    """P(y=1) for ``n`` examples, batch by batch."""
    out = []
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(n, start + batch_size))
        out.append(torch.softmax(forward(idx).float(), dim=-1)[:, 1].cpu())
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)
