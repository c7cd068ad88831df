"""A row a test expects to exist, typed as present: the store's lookups answer ``None`` for a missing one."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def found(value: T | None, what: str = "the row") -> T:
    """``value``, which must exist; fails saying what was missing otherwise."""
    assert value is not None, f"{what} is missing"
    return value
