"""The evaluator's reference methods as text, and the one a submitted method is closest to.

The review desk diffs a candidate against the reference method it most resembles, so a supervisor sees
at once what an agent changed of a published method (and how little, when it is a renamed copy). The
sources are read as files from the ``evaluator`` package's folder, found without importing it (the
methods import torch), in the order the evaluator lists them (``evaluator/compute/methods/__init__.py``).
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
from pathlib import Path

from pydantic import BaseModel

METHODS_FOLDER = ("compute", "methods")


class Closest(BaseModel):
    """The reference method a source is most like."""

    name: str
    source: str
    similarity: float
    """difflib's ratio over the two sources' lines: 1.0 the same, 0.0 nothing in common."""


@functools.cache
def reference_sources() -> dict[str, str]:
    """Each reference method's source by name; empty where the evaluator is not installed beside aar."""
    spec = importlib.util.find_spec("evaluator")
    if spec is None or not spec.submodule_search_locations:
        return {}
    folder = Path(next(iter(spec.submodule_search_locations))).joinpath(*METHODS_FOLDER)
    return {path.stem: path.read_text() for path in sorted(folder.glob("*.py")) if not path.stem.startswith("_")}


def reference_source(name: str) -> str:
    """One reference method's source; a ``KeyError`` names the ones there are."""
    sources = reference_sources()
    if name not in sources:
        raise KeyError(f"{name!r} is not a reference method ({', '.join(sources)})")
    return sources[name]


def _lines(source: str) -> list[str]:
    """The lines that carry meaning: stripped, without blanks and comments (a renamed or re-indented copy
    is still a copy)."""
    return [s for line in source.splitlines() if (s := line.strip()) and not s.startswith("#")]


@functools.cache
def _reference_lines() -> dict[str, list[str]]:
    """Each reference method's lines that carry meaning, split once: they never change."""
    return {name: _lines(text) for name, text in reference_sources().items()}


def closest_reference(source: str) -> Closest | None:
    """The reference method whose source ``source`` is most like; None where there are none. Ties go to the one
    looked at first (the larger length bound, then the name), so the answer is the same every time. The cheap
    upper bounds are checked first, so a long method costs one full comparison or two."""
    references = _reference_lines()
    if not references:
        return None
    ours = _lines(source)
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(ours)
    best: Closest | None = None
    for name, theirs in sorted(references.items(), key=lambda kv: (-_bound(kv[1], ours), kv[0])):
        if best is not None and _bound(theirs, ours) <= best.similarity:
            break
        matcher.set_seq1(theirs)
        if matcher.quick_ratio() <= (best.similarity if best else -1.0):
            continue
        ratio = matcher.ratio()
        if best is None or ratio > best.similarity:
            best = Closest(name=name, source=reference_sources()[name], similarity=ratio)
    return best


def _bound(a: list[str], b: list[str]) -> float:
    """An upper bound of the ratio of ``a`` and ``b`` from their lengths alone (``real_quick_ratio``)."""
    total = len(a) + len(b)
    return 2.0 * min(len(a), len(b)) / total if total else 1.0
