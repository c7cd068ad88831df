"""Where a run keeps the evaluator's files under ``runs/<id>/evaluator/`` (never mounted in a sandbox).

secret.json      the run's secret toy data seed
bundle/          the public bundle, copied into every workspace as task/
heldout/         labels of train_unlabel, feedback and final (one file each)
cache/           weak runs and baselines per task key and seed
verify/<sub>/    a method submission's per-seed predictions (final ones scored only by --final)
targets/<name>/  the same files for each transfer target (``[[transfer.targets]]``): its own secret, bundle,
                 held-out labels, cache and verified outputs
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from aar.config import RunConfig, TaskConfig, TransferTarget
from aar.runtime import RunPaths
from evaluator.compute.tasks import load_task
from evaluator.compute.tasks.base import Task


class RunFiles:
    """The home task's files, or with ``target`` those of one transfer target."""

    def __init__(self, paths: RunPaths, target: TransferTarget | None = None) -> None:
        self.target = target
        self.root = paths.evaluator_dir if target is None else paths.evaluator_dir / "targets" / target.name

    @property
    def bundle(self) -> Path:
        return self.root / "bundle"

    @property
    def heldout(self) -> Path:
        return self.root / "heldout"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def verify(self, submission_id: int) -> Path:
        return self.root / "verify" / str(submission_id)

    def data_seed(self, *, create: bool = False) -> int:
        """The run's secret data seed, drawn once when the run is prepared."""
        path = self.root / "secret.json"
        if not path.exists():
            if not create:
                raise FileNotFoundError(f"{path} is missing: the run was not prepared")
            self.root.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"data_seed": secrets.randbits(62)}))
            path.chmod(0o600)
        return int(json.loads(path.read_text())["data_seed"])

    def task_config(self, config: RunConfig) -> TaskConfig:
        return config.task if self.target is None else self.target.task

    def seeds(self, config: RunConfig) -> list[int]:
        """The seeds every baseline and method runs over on this task."""
        return list(range(config.evaluator.seeds if self.target is None else self.target.seeds))

    def task(self, config: RunConfig, *, create: bool = False) -> Task:
        return load_task(self.task_config(config), data_seed=self.data_seed(create=create), training=config.training)
