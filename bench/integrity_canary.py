"""The canary's cost per seed: the new canary (another weak model's labels, every seed) against the old one
(weak labels shuffled, first seed only) and against no canary.

A method job verifies a method over ``n`` seeds. The old canary ran the method once more (seed 0) on
a copy of the bundle with its weak labels permuted; the new one runs it once more on every seed, on
a copy staged with the ``canary`` weak model's labels (that weak model is trained once per run and
cached). Both run ``vanilla`` through the real method runner on the toy task, in this process
(sandbox start-up comes on top of both, once per sandbox).

    python -m bench.integrity_canary [--size 4000] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)

    from aar.config import load_config
    from aar.runtime import RunPaths
    from evaluator.compute.pipeline import CANARY, Cache, weak_run
    from evaluator.compute.prepare import prepare
    from evaluator.compute.run_method import main as run_method
    from evaluator.daemon.bundle import WEAK_LABELS, stage_bundle
    from evaluator.daemon.jobs import Evaluation
    from evaluator.daemon.runfiles import RunFiles
    from tests.evaluator.helpers import make_run

    seeds = list(range(args.seeds))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "run"
        paths = make_run(root, evaluator={"seeds": args.seeds, "device": "cpu"}, task={"size": args.size})
        prepare(paths.root)
        public = RunFiles(paths).bundle
        ev = Evaluation(RunPaths(root), load_config(paths.config), "cpu")

        def method_run(bundle: Path, seed: int) -> float:
            start = time.perf_counter()
            out = Path(tmp) / f"preds-{bundle.name}-{seed}.json"
            assert run_method(["vanilla", "--bundle", str(bundle), "--seed", str(seed), "--out", str(out)]) == 0
            return time.perf_counter() - start

        method_run(public, seeds[0])  # warm-up: imports and first-call costs stay out of every figure
        verify = sum(method_run(public, s) for s in seeds)  # the scored runs, the same under either canary

        start = time.perf_counter()
        old = Path(tmp) / "old"
        shutil.copytree(public, old)
        weak = json.loads((old / WEAK_LABELS).read_text())
        order = np.random.default_rng().permutation(len(weak[str(seeds[0])]))
        (old / WEAK_LABELS).write_text(json.dumps({s: [v[i] for i in order] for s, v in weak.items()}))
        old_s = time.perf_counter() - start + method_run(old, seeds[0])

        start = time.perf_counter()  # trained afresh here (a run trains them once, in prepare)
        fresh = Cache(None, ev.task, "cpu")
        labels = {s: weak_run(ev.task, ev.data, s, "cpu", fresh, role=CANARY, secret=ev.secret).labels() for s in seeds}
        weak_s = time.perf_counter() - start
        start = time.perf_counter()
        stage_bundle(public, Path(tmp) / "new", labels)
        new_s = time.perf_counter() - start + sum(method_run(Path(tmp) / "new", s) for s in seeds)

    n = len(seeds)
    print(f"canary cost per seed, toy size {args.size}, {n} seeds, vanilla, in-process (no sandbox start-up):")
    print(f"  no canary   {verify / n:7.3f} s/seed (the scored runs)")
    print(f"  old canary  {old_s / n:7.3f} s/seed (shuffled labels, seed {seeds[0]} only)")
    print(f"  new canary  {new_s / n:7.3f} s/seed (another weak model's labels, every seed)")
    print(f"  canary weak models, trained once per run by prepare: {weak_s:.3f} s ({weak_s / n:.3f} s/seed)")
    print(f"  ratio new/old canary: {new_s / old_s:.2f}x")
    print(
        f"  verification with canary / without: old {(verify + old_s) / verify:.2f}x, new {(verify + new_s) / verify:.2f}x"
    )


if __name__ == "__main__":
    main()
