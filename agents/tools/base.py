"""What a tool is, and the toolbox that validates and runs the model's tool calls.

Every tool declares a pydantic ``Input``; its JSON schema is what the model
is shown. A call is never allowed to break the agent's loop: an unknown
tool, input that does not validate (or was not JSON at all), a ``ToolError``
or any failure of the tool itself comes back as an ``is_error`` result with
a message that says what to do instead. Output longer than the model should
read is cut to its head and tail with a note; the event keeps it whole.
"""

from __future__ import annotations

import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from aar.config import RunConfig
from aar.disk import DiskSignal, is_disk_full
from aar.errors import AarError
from aar.escape import LINE_BREAKERS
from aar.store.protocols import AgentStore
from agents.agent_state import AgentControl
from agents.sandbox_slot import SandboxSlot

log = logging.getLogger("aar.agents.tools")

MODEL_OUTPUT_CHARS = 16_000
"""Characters of one tool result the model reads; the rest is elided in the middle."""
MAX_READ_BYTES = 2_000_000
"""Largest file a tool reads whole."""
INVALID_JSON_KEY = "_invalid_json"
"""Where a backend puts tool input that was not a JSON object (``agents.claude.stream`` does)."""


class ToolError(Exception):
    """A tool's expected failure; the message goes to the model as the error."""


class ToolInput(BaseModel):
    """Base of tool inputs: unknown keys are errors, so a typo is reported rather than ignored."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


@dataclass
class ToolResult:
    output: str
    is_error: bool = False
    finish: bool = False
    """The agent is done after this step (the ``finish`` tool)."""
    records: list[dict[str, Any]] | None = None
    """A structured result, for tools that show one agent what others wrote (forum, leaderboard): one JSON
    object per line of ``output``. Agent-written text lives only inside JSON strings, escaped, and what the
    forum, the evaluator or the supervisor says has keys of its own, so no post, title or file name can
    forge a line of theirs (a newline is ``\\n``, a quote ``\\"``)."""

    @classmethod
    def structured(cls, records: list[dict[str, Any]], limit: int = MODEL_OUTPUT_CHARS) -> ToolResult:
        """A result whose ``output`` is ``records`` as JSON lines (non-ASCII kept readable; controls escaped).

        Past ``limit`` characters, whole records are left out of the middle (about two thirds of the room
        to the first ones, the rest to the last) with a record saying so: the model never reads a line cut
        inside another agent's string."""
        lines = [json_line(r) for r in records]
        if sum(len(line) + 1 for line in lines) > limit and len(lines) > 2:
            lines = _fit(lines, limit - 200)
        return cls("\n".join(lines), records=records)


_UNSEEN = re.compile(rf"[{LINE_BREAKERS}\u200b-\u200d\u2060-\u2065\ufeff]")
"""Characters ``json.dumps`` keeps raw that break, hide or reorder a line: ``LINE_BREAKERS`` and the
zero-width ones."""


def _fit(lines: list[str], room: int) -> list[str]:
    """The first and last of ``lines`` that fit in ``room`` characters, and a record for those left out."""
    head: list[str] = []
    tail: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > room * 2 // 3 and head:
            break
        head.append(line)
        used += len(line) + 1
    for line in reversed(lines[len(head) :]):
        if used + len(line) + 1 > room:
            break
        tail.insert(0, line)
        used += len(line) + 1
    left_out = len(lines) - len(head) - len(tail)
    if left_out == 0:
        return lines
    note = {"cut": f"{left_out} record(s) left out here to keep the result short; ask for fewer (limit, thread)"}
    return [*head, json_line(note), *tail]


def json_line(record: dict[str, Any]) -> str:
    """``record`` as one line of JSON: readable non-ASCII, every control, separator and bidi mark escaped."""
    return _UNSEEN.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(record, ensure_ascii=False))


@dataclass
class CallContext:
    """Everything a tool call may use; built by the loop for each call."""

    agent: str
    step: int
    call_id: str
    store: AgentStore
    config: RunConfig
    sandbox: SandboxSlot
    control: AgentControl
    disk: DiskSignal | None = None
    """Told when the call met a full disk (the disk guard then pauses the team)."""


class Tool(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    Input: ClassVar[type[ToolInput]]
    slow: ClassVar[bool] = False
    """Whether a call may take long (a command, an evaluation): the agent's row then shows it running."""

    @abstractmethod
    async def run(self, args: Any, call: CallContext) -> ToolResult:
        """Do the work; raise ``ToolError`` with a useful message when it cannot."""

    @classmethod
    def spec(cls) -> dict[str, Any]:
        """The tool definition in the Messages API's shape."""
        schema = cls.Input.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return {"name": cls.name, "description": cls.description, "input_schema": schema}


class Toolbox:
    """The tools of one agent, by name."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self.tools = {t.name: t for t in tools}

    def is_slow(self, name: str) -> bool:
        tool = self.tools.get(name)
        return tool is not None and tool.slow

    def specs(self) -> list[dict[str, Any]]:
        return [type(t).spec() for t in self.tools.values()]

    async def call(self, name: str, raw: Any, call: CallContext) -> ToolResult:
        """Validate and run one call; every failure becomes an error result."""
        tool = self.tools.get(name)
        if tool is None:
            return ToolResult(f"unknown tool {name!r}; the tools are: {', '.join(self.tools)}", is_error=True)
        if isinstance(raw, dict) and INVALID_JSON_KEY in raw:
            text = str(raw[INVALID_JSON_KEY])
            shown = text if len(text) <= 300 else text[:300] + "…"
            return ToolResult(
                f"{name}: the input was not a JSON object ({shown!r}); send an object that matches the tool's schema",
                is_error=True,
            )
        try:
            args = tool.Input.model_validate(raw)
        except ValidationError as exc:
            return ToolResult(f"{name}: invalid input: {format_problems(exc)}", is_error=True)
        try:
            return await tool.run(args, call)
        except Exception as exc:  # a tool's failure, even its bug, must not end the agent: report it and go on
            return _failed(name, exc, call)


def _failed(name: str, exc: Exception, call: CallContext) -> ToolResult:
    """The error result of a call that raised ``exc``."""
    if is_disk_full(exc):
        if call.disk is not None:
            call.disk.report(f"{call.agent}'s {name}", exc)
        return ToolResult(
            f"{name}: not done, the disk is full; the supervisor is told and the team pauses until there is "
            "space; call it again then",
            is_error=True,
        )
    match exc:
        case ToolError() | AarError():
            return ToolResult(f"{name}: {exc}", is_error=True)
        case OSError():
            return ToolResult(
                f"{name}: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", is_error=True
            )
    log.exception("%s: tool %s failed", call.agent, name)
    return ToolResult(f"{name} failed: {type(exc).__name__}: {exc}", is_error=True)


async def read_text(call: CallContext, path: str) -> str:
    """A workspace file as UTF-8 text, at most ``MAX_READ_BYTES``.

    The sandbox checks the size before reading a byte and refuses, each in one line, a larger file,
    a path with a link on it or one that leaves the workspace, and anything but a regular file
    (a FIFO, a socket, a device), without blocking."""
    sandbox = await call.sandbox.get()
    data = await sandbox.read_file(path, limit=MAX_READ_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"{path} is not UTF-8 text; inspect it with bash (file, xxd | head)") from None


def format_problems(exc: ValidationError) -> str:
    """Pydantic's errors as ``field: problem`` pairs on one line."""
    problems = []
    for item in exc.errors():
        where = ".".join(str(p) for p in item["loc"]) or "input"
        message = "unknown field; remove it" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def for_model(text: str, limit: int = MODEL_OUTPUT_CHARS) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters (head and tail kept, a note between); and whether it was cut."""
    if len(text) <= limit:
        return text, False
    head = limit * 2 // 3
    tail = limit - head
    omitted = len(text) - head - tail
    note = (
        f"\n\n[... {omitted} characters omitted ({len(text)} in all); the full output is kept in the run store. "
        "Narrow the command (grep, head, tail) to see a part of it. ...]\n\n"
    )
    return text[:head] + note + text[-tail:], True
