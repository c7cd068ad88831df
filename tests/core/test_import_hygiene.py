"""The domain never imports Textual; torch loads only in the evaluator worker.

Every module of ``aar``, ``agents`` and ``sandbox`` is imported in a fresh
interpreter and ``sys.modules`` is checked afterwards.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import importlib, pkgutil, sys
import {package} as root
for info in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
    importlib.import_module(info.name)
heavy = sorted(m for m in ("textual", "torch", "transformers") if m in sys.modules)
print(",".join(heavy))
"""


@pytest.mark.slow
@pytest.mark.parametrize("package", ["aar", "agents", "sandbox"])
def test_package_imports_without_textual_or_torch(package: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(package=package)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{package} pulled in {out.stdout.strip()}"
