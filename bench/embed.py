"""The cost of ``ctx.embed`` on a tiny jsonl checkpoint, against one forward pass over the same split.

Side by side in one run, alternating, the fastest repeat of each counting (other work on a shared
machine only ever adds time):
  forward   the classifier's logits over the split (``HFLearner.logits``): one forward pass, model loaded
  embed     ``ctx.embed(split)`` on a fresh context: the frozen backbone's pooled last hidden states
  again     ``ctx.embed(split)`` a second time on the same context (its per-split cache)
Both first sides start from a tokenized split and a loaded model, so the ratio is of the passes
themselves; the backbone's one load per process is printed apart.
Targets: embed / forward <= 1.1; again / embed <= 0.05.

Usage: python bench/embed.py [--rows N] [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.hf import gpt2_checkpoint, rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import torch

    from evaluator.compute.context import MethodContext
    from evaluator.compute.hf.learner import HFLearner
    from evaluator.compute.tasks.base import Recipe

    torch.set_num_threads(1)  # two cores, shared: one thread each side measures the passes, not the scheduler
    folder = gpt2_checkpoint(Path(tempfile.mkdtemp(prefix="aar-bench-embed-")) / "gpt2")
    texts, _ = rows(args.rows, mean=64, cap=256)
    learner = HFLearner(folder, 256)
    classifier = learner.load_model("cpu", bf16=False)
    learner.tokens(texts, "embed")  # tokenized once, as a run's splits are
    start = time.perf_counter()
    learner._backbone("cpu")
    load = time.perf_counter() - start

    def context() -> MethodContext:
        return MethodContext(
            task="jsonl",
            seed=0,
            device="cpu",
            train_x=texts,
            weak_probs=np.full(len(texts), 0.5),
            test_x=texts[:1],
            n_feedback=1,
            weak_x=texts,
            weak_test_x=texts[:1],
            recipe=Recipe(epochs=1, lr=1e-5, batch_size=16),
            learner=learner,
        )

    best = {"forward": float("inf"), "embed": float("inf"), "again": float("inf")}
    for _ in range(args.repeats):
        start = time.perf_counter()
        learner.logits(classifier, texts, device="cpu")
        best["forward"] = min(best["forward"], time.perf_counter() - start)
        ctx = context()
        start = time.perf_counter()
        features = ctx.embed()
        best["embed"] = min(best["embed"], time.perf_counter() - start)
        start = time.perf_counter()
        assert ctx.embed() is features
        best["again"] = min(best["again"], time.perf_counter() - start)
    print(
        f"{args.rows} rows (mean 64 tokens), 4-layer GPT-2 shape (128 wide), CPU, 1 thread; fastest of {args.repeats}"
    )
    print(f"backbone load (once per process): {load:.3f}s")
    for name, seconds in best.items():
        print(f"  {name:<8} {seconds:8.4f}s")
    print(f"features {features.shape}")
    print(f"ratio embed / forward = {best['embed'] / best['forward']:.3f} (target <= 1.1)")
    print(f"ratio again / embed = {best['again'] / best['embed']:.4f} (target <= 0.05)")


if __name__ == "__main__":
    main()
