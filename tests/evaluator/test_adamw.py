"""The loop's own AdamW gives torch's AdamW weights bit for bit, and a method run never imports
``torch._dynamo`` (the 2.5-3 s import that ``torch.optim`` pays in every fresh job process)."""

from __future__ import annotations

import subprocess
import sys

import torch

from evaluator.compute.adamw import EagerAdamW


def _model(seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(7, 16), torch.nn.GELU(), torch.nn.Linear(16, 2))


def test_the_weights_equal_torch_adamw_step_by_step_with_a_schedule_and_a_frozen_step() -> None:
    ours, theirs = _model(3), _model(3)
    mine = EagerAdamW(ours.parameters(), lr=3e-3, weight_decay=0.05)
    ref = torch.optim.AdamW(theirs.parameters(), lr=3e-3, weight_decay=0.05)
    gen = torch.Generator().manual_seed(0)
    for step in range(40):
        x, y = torch.randn(32, 7, generator=gen), torch.randint(0, 2, (32,), generator=gen)
        for model, opt in ((ours, mine), (theirs, ref)):
            for group in opt.param_groups:
                group["lr"] = 3e-3 * (1 - step / 40)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            if step % 7 == 3:  # the last layer's bias gets no gradient on this step: its count stays behind
                model[2].bias.grad = None
            opt.step()
            opt.zero_grad(set_to_none=True)
        for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
            assert torch.equal(a, b), f"step {step}: the weights differ"
    assert all(p.grad is None for p in ours.parameters())


def test_a_toy_method_run_never_imports_dynamo() -> None:
    code = (
        "import sys\n"
        "from aar.config.task import ToyTaskConfig\n"
        "from evaluator.compute.pipeline import train_ceiling, train_weak\n"
        "from evaluator.compute.tasks import load_task\n"
        "task = load_task(ToyTaskConfig(size=400))\n"
        "data = task.load()\n"
        "weak = train_weak(task, data, 0, 'cpu')\n"
        "print(len(weak.test_probs), len(train_ceiling(task, data, 0, 'cpu')))\n"
        "print('dynamo' if 'torch._dynamo' in sys.modules else 'no dynamo')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "no dynamo"
