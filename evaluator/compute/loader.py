"""Find a method's ``run`` function: a reference method by name, or a Python file."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from aar.errors import AarError
from evaluator.compute.context import MethodFn
from evaluator.compute.methods import REFERENCE_METHODS


class MethodError(AarError):
    """The method file cannot be loaded or does not define ``run(ctx)``."""


def load_method(spec: str | Path) -> tuple[str, MethodFn]:
    """``(name, run)`` for ``vanilla`` / ``confidence`` / ... or for a path to a ``.py`` file."""
    text = str(spec)
    if text in REFERENCE_METHODS:
        return text, importlib.import_module(f"evaluator.compute.methods.{text}").run
    path = Path(text)
    if path.suffix != ".py" or not path.is_file():
        raise MethodError(f"{text!r} is neither a reference method ({', '.join(REFERENCE_METHODS)}) nor a .py file")
    module_name = f"aar_method_{path.stem}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    if loader is None or loader.loader is None:
        raise MethodError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(loader)
    sys.modules[module_name] = module
    try:
        loader.loader.exec_module(module)
    except SyntaxError as exc:
        raise MethodError(f"{path.name}:{exc.lineno}: syntax error: {exc.msg}") from None
    fn = getattr(module, "run", None)
    if not callable(fn):
        raise MethodError(f"{path.name} defines no run(ctx) function; add `def run(ctx): ...` returning predictions")
    return path.stem, fn
