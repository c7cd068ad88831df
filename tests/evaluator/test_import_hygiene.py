"""The evaluator's daemon side loads without torch: training happens only in the worker.

Every module of ``evaluator.daemon`` is imported in a fresh interpreter and ``sys.modules`` is
checked afterwards, so a module added to the package is covered without being listed here.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import importlib, pkgutil, sys
import evaluator.daemon as root
names = [info.name for info in pkgutil.walk_packages(root.__path__, root.__name__ + ".")]
for name in names:
    importlib.import_module(name)
heavy = sorted(m for m in ("textual", "torch", "transformers") if m in sys.modules)
print(len(names), ",".join(heavy))
"""


def test_daemon_side_imports_without_torch() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count, heavy = out.stdout.strip().partition(" ")[::2]
    assert int(count) >= 15, f"walked only {count} modules of evaluator.daemon"
    assert heavy == "", f"evaluator.daemon pulled in {heavy}"
