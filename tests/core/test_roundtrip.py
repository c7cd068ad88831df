"""Every ``EventPayload`` and every ``Command`` class round-trips through a real store: what is written is what
a reader gets back, as the same model (hypothesis draws the field values from each class's annotations)."""

from __future__ import annotations

import asyncio
import functools
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from aar.commands import COMMAND_KINDS, RUN_COMMANDS, RUN_TARGET, Command
from aar.events import EVENT_CLASSES, EventPayload
from aar.store import RunStore

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
"""Values a tool's free-form input may hold."""


def _of(annotation: Any) -> st.SearchStrategy[Any]:
    """A strategy for one field's annotation (the shapes the payload models use)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return st.sampled_from(args)
    if origin in (types.UnionType, typing.Union):
        return st.one_of(*(_of(a) for a in args))
    if origin is list:
        return st.lists(_of(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=10), JSON, max_size=3)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):  # a nested model (a cluster's nodes)
        return _model(annotation)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        type(None): st.none(),
        bool: st.booleans(),
        int: st.integers(-(2**53), 2**53),
        float: st.floats(allow_nan=False, allow_infinity=False),
        str: st.text(max_size=40),
    }
    return simple[annotation]


def _at_least(low: Any, value: Any) -> Any:
    """``value`` reflected above ``low`` when it is below it (a field's ``ge`` bound)."""
    return value if value >= low else low + abs(value - low)


def _model(cls: type[BaseModel]) -> st.SearchStrategy[Any]:
    fields = {}
    for name, info in cls.model_fields.items():
        if name == "kind":
            continue
        strategy = _of(info.annotation)
        if any(getattr(m, "min_length", None) for m in info.metadata):  # NonBlank: stripped, then not empty
            strategy = strategy.filter(lambda s: bool(s.strip()))
        for low in (m.ge for m in info.metadata if getattr(m, "ge", None) is not None):  # a bound: Field(ge=0)
            strategy = strategy.map(functools.partial(_at_least, low))
        fields[name] = strategy
    return st.builds(cls, **fields)


def _command_classes() -> list[type[BaseModel]]:
    union = get_args(get_args(Command)[0])
    assert tuple(get_args(c.model_fields["kind"].annotation)[0] for c in union) == COMMAND_KINDS
    return list(union)


class _Store:
    """One real store for all of a test's examples, on one event loop (opening a store per example is slow)."""

    def __init__(self, folder: Path) -> None:
        self.runner = asyncio.Runner()
        self.store = self.runner.run(RunStore.open(folder / "run.db", create=True))

    def events(self, payloads: list[EventPayload]) -> None:
        self.runner.run(self._events(payloads))

    def commands(self, commands: list[Command]) -> None:
        self.runner.run(self._commands(commands))

    async def _events(self, payloads: list[EventPayload]) -> None:
        store = self.store
        last = await store.last_event_id()
        for n, payload in enumerate(payloads):
            store.emit(f"agent-{n % 3}" if n % 4 else None, payload)
        await store.flush()
        rows = await store.events_after(last, limit=len(payloads) + 1)
        raw = await store.raw_events_after(last, limit=len(payloads) + 1)
        assert [row.payload for row in rows] == payloads
        assert [row.kind for row in rows] == [p.kind for p in payloads]
        assert [r.payload for r in raw] == [p.model_dump_json() for p in payloads], "the low-level read: the JSON"

    async def _commands(self, commands: list[Command]) -> None:
        store = self.store
        ids = [await store.issue_command(c, f"agent-{n}") for n, c in enumerate(commands)]
        rows = await store.pending_commands(after_id=ids[0] - 1)
        assert [(r.id, r.command, r.problem) for r in rows] == [(i, c, "") for i, c in zip(ids, commands, strict=True)]
        for n, (row, command) in enumerate(zip(rows, commands, strict=True)):
            assert row.target == (RUN_TARGET if isinstance(command, RUN_COMMANDS) else f"agent-{n}")

    def close(self) -> None:
        self.runner.run(self.store.close())
        self.runner.close()


@pytest.fixture
def real_store(tmp_path: Path) -> Iterator[_Store]:
    opened = _Store(tmp_path)
    try:
        yield opened
    finally:
        opened.close()


SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_every_event_payload_class_round_trips_through_the_store(real_store: _Store, cls: type[BaseModel]) -> None:
    @SETTINGS
    @given(st.lists(_model(cls), min_size=1, max_size=5))
    def check(payloads: list[EventPayload]) -> None:
        real_store.events(payloads)

    check()


@pytest.mark.parametrize("cls", _command_classes(), ids=lambda c: c.__name__)
def test_every_command_class_round_trips_through_the_store(real_store: _Store, cls: type[BaseModel]) -> None:
    @SETTINGS
    @given(st.lists(_model(cls), min_size=1, max_size=5))
    def check(commands: list[Command]) -> None:
        real_store.commands(commands)

    check()


@SETTINGS
@given(payloads=st.lists(st.one_of(*(_model(c) for c in EVENT_CLASSES)), min_size=2, max_size=30))
def test_a_mixed_log_reads_back_in_order(real_store: _Store, payloads: list[EventPayload]) -> None:
    real_store.events(payloads)
