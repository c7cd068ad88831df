"""The TUI's data side (service, model, text) imports no Textual or Rich, and the TUI never imports agents or the evaluator."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import importlib, sys
for name in ("tui.service", "tui.model", "tui.text"):
    importlib.import_module(name)
print(",".join(sorted(m for m in ("textual", "rich", "torch") if m in sys.modules)))
import tui.app, pkgutil, tui
for info in pkgutil.walk_packages(tui.__path__, "tui."):
    importlib.import_module(info.name)
print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in ("agents", "evaluator", "sandbox", "torch"))))
"""


def test_data_side_has_no_textual_and_the_tui_no_domain_internals() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data_side, whole_tui = out.stdout.splitlines()
    assert data_side == ""
    assert whole_tui == ""
