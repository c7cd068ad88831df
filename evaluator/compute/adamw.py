"""AdamW for the CPU without ``torch.optim``: the same arithmetic as torch's single-tensor AdamW, bit for bit.

Why: ``torch.optim`` imports ``torch._dynamo`` the first time an optimizer adds its parameters and at every
step (to mark graph breaks for ``torch.compile``). That import costs 2.5 to 3 s of one core, and every
verification sandbox, canary and transfer job is a fresh process whose toy seeds train in 0.2 to 0.4 s:
the import was most of a job. On CUDA the loop keeps ``torch.optim.AdamW(fused=True)``, whose kernel
matters there. ``tests/evaluator/test_adamw.py`` checks that both give the same weights step by step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

BETAS = (0.9, 0.999)
EPS = 1e-8


class EagerAdamW:
    """Decoupled weight decay Adam over ``params``, torch's defaults (betas 0.9/0.999, eps 1e-8, no amsgrad).

    ``param_groups`` is one group whose ``lr`` a schedule may set between steps, as with ``torch.optim``.
    """

    def __init__(self, params: Iterable[torch.Tensor], *, lr: float, weight_decay: float) -> None:
        self.params = list(params)
        self.param_groups: list[dict[str, Any]] = [{"lr": lr, "weight_decay": weight_decay}]
        self._steps = [0] * len(self.params)
        """Each parameter's own count, as torch keeps it: a step without its gradient does not count."""
        self._avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self._avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        lr, decay = float(group["lr"]), float(group["weight_decay"])
        beta1, beta2 = BETAS
        for i, (param, avg, avg_sq) in enumerate(zip(self.params, self._avg, self._avg_sq, strict=True)):
            grad = param.grad
            if grad is None:
                continue
            self._steps[i] += 1
            step = float(self._steps[i])  # torch keeps the count as a float tensor and reads it as a float
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2**0.5
            param.mul_(1 - lr * decay)
            avg.lerp_(grad, 1 - beta1)
            avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (avg_sq.sqrt() / bias_correction2_sqrt).add_(EPS)
            param.addcdiv_(avg, denom, value=-step_size)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.params:
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad.zero_()
