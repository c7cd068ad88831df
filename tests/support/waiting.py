"""Waiting on facts, never on time: poll a condition until it holds, or fail saying what was awaited.

The condition is the fact the test needs (a row in the store, a line on screen, a file another
process wrote); the timeout is only how long to give up after, so a loaded machine makes a test
slower, not red. ``eventually`` serves asyncio tests (the condition may be a coroutine function, and
the loop keeps running while it waits); ``eventually_sync`` serves tests that drive other processes.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar, overload

T = TypeVar("T")

Said = str | Callable[[], str]
"""What was awaited, for the failure message; a callable is asked at the failure (what was on screen then)."""


def _failure(what: Said, condition: Callable[[], object], timeout: float) -> AssertionError:
    said = what() if callable(what) else what
    return AssertionError(
        f"timed out after {timeout:g}s waiting for {said or getattr(condition, '__name__', condition)}"
    )


# A condition returns its fact, or None or False while it does not hold yet: what a wait returns is the fact.
@overload
async def eventually(
    condition: Callable[[], Awaitable[T | Literal[False] | None]],
    *,
    timeout: float = 10.0,
    what: Said = "",
    interval: float = 0.02,
) -> T: ...


@overload
async def eventually(
    condition: Callable[[], T | Literal[False] | None],
    *,
    timeout: float = 10.0,
    what: Said = "",
    interval: float = 0.02,
) -> T: ...


async def eventually(
    condition: Callable[[], object], *, timeout: float = 10.0, what: Said = "", interval: float = 0.02
) -> object:
    """The first truthy value of ``condition()`` (awaited if it is a coroutine), polled every ``interval``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise _failure(what, condition, timeout)
        await asyncio.sleep(interval)  # between two looks at the fact: the one poll of the asyncio tests


def eventually_sync(
    condition: Callable[[], T | Literal[False] | None], *, timeout: float = 60.0, what: Said = "", interval: float = 0.1
) -> T:
    """The first truthy value of ``condition()``; for facts another process writes (its files, its run.db)."""
    deadline = time.monotonic() + timeout
    while True:
        if value := condition():
            return value
        if time.monotonic() > deadline:
            raise _failure(what, condition, timeout)
        time.sleep(interval)  # between two looks at another process's files: the one poll of the sync tests
