"""The backend registry and the config agree: every name ``sandbox.backend`` accepts builds a sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from aar.config import SandboxConfig
from sandbox import factory
from sandbox.local import LocalSandbox


def test_every_configurable_backend_is_registered() -> None:
    allowed = set(get_args(SandboxConfig.model_fields["backend"].annotation))
    assert allowed == set(factory.BACKENDS) | {"auto"}


def test_an_explicit_backend_comes_from_the_registry(tmp_path: Path) -> None:
    box = factory.create_sandbox(SandboxConfig(backend="local"), name="a", workspace=tmp_path)
    assert isinstance(box, LocalSandbox) and box.backend == "local"
