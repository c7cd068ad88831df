"""Supervisor commands: what a TUI, the CLI or a monitor asks the daemon to do.

A command is a row of the ``commands`` table: a ``target`` (an agent's name,
``*`` for every running agent, ``@run`` for the run) and one of the models
below, stored as its ``kind`` column plus the rest of its fields as JSON. The
store validates a command when it is written and parses it when it is read
back, so the TUI, the CLI and the daemon share one definition; a row that
does not parse (written by hand, or by a newer aar) comes back with the one
line that says why, and the daemon rejects it instead of crashing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from aar.errors import AarError

ALL_AGENTS = "*"
"""Target of a command meant for every running agent."""
RUN_TARGET = "@run"
"""Target of a command meant for the run itself."""

NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Pause(_Command):
    """Pause after the step in flight."""

    kind: Literal["pause"] = "pause"
    reason: str = ""
    """Why, shown on the agent's pane (a monitor says what it saw); empty says the supervisor paused it."""


class Resume(_Command):
    """Resume a paused agent."""

    kind: Literal["resume"] = "resume"


class Redirect(_Command):
    """A supervisor message the agent reads before its next model call."""

    kind: Literal["redirect"] = "redirect"
    text: NonBlank
    """The message, as the agent will read it."""


class Interrupt(_Command):
    """Kill the sandbox command the agent is running."""

    kind: Literal["interrupt"] = "interrupt"


class ApprovalOn(_Command):
    """Tool calls wait for approve / deny from now on."""

    kind: Literal["approval_on"] = "approval_on"


class ApprovalOff(_Command):
    """Tool calls run without asking from now on."""

    kind: Literal["approval_off"] = "approval_off"


class Approve(_Command):
    """Let one waiting tool call run."""

    kind: Literal["approve"] = "approve"
    call_id: NonBlank
    """The id of the tool call waiting for approval."""


class Deny(_Command):
    """Refuse one waiting tool call; the agent reads the reason in the tool's error."""

    kind: Literal["deny"] = "deny"
    call_id: NonBlank
    """The id of the tool call waiting for approval."""
    reason: str = ""
    """Why, in the supervisor's words; empty says only that it was denied."""


class Stop(_Command):
    """Stop one agent after its step in flight; a resumed run keeps it stopped."""

    kind: Literal["stop"] = "stop"
    reason: str = ""
    """Why, shown on the agent's pane; empty says the supervisor stopped it."""


class StopRun(_Command):
    """Stop the whole run after every agent's step in flight."""

    kind: Literal["stop_run"] = "stop_run"
    by: str = ""
    """Who asked (``tui``, ``aar stop``), for the record."""


class QuarantinePost(_Command):
    """Withhold a forum post from the agents; it stays in the store and the TUI shows it struck through."""

    kind: Literal["quarantine"] = "quarantine"
    post_id: int
    """The post to withhold."""
    reason: NonBlank
    """Why, in a line; agents read it in place of the post."""
    by: str = "supervisor"
    """Who asked: ``supervisor`` or a monitor's name."""


class RestorePost(_Command):
    """Give a quarantined post back to the agents."""

    kind: Literal["restore"] = "restore"
    post_id: int
    """The post to restore."""


class PinPost(_Command):
    """Pin a post (guidance every agent reads first) or unpin it."""

    kind: Literal["pin"] = "pin"
    post_id: int
    """The post to pin or unpin."""
    pinned: bool = True
    """False unpins it."""


class Answer(_Command):
    """The supervisor's answer to an agent's ``ask_supervisor`` question; the agent reads it and goes on."""

    kind: Literal["answer"] = "answer"
    call_id: NonBlank
    """The id of the ``ask_supervisor`` tool call that asked."""
    text: NonBlank
    """The answer, as the agent will read it."""


class TransferMethod(_Command):
    """Re-run a verified method on every transfer target of the run (``[[transfer.targets]]``)."""

    kind: Literal["transfer"] = "transfer"
    submission_id: int
    """The method submission to transfer."""


class Branch(_Command):
    """Start a new agent from the target's transcript up to ``step``, in the workspace of the target's nearest
    snapshot at or before that step, with ``guidance`` as the first thing it reads and a budget of its own;
    the target is unchanged."""

    kind: Literal["branch"] = "branch"
    step: Annotated[int, Field(ge=0)]
    """The target's step to branch after (0: from its start)."""
    guidance: NonBlank
    """The supervisor's guidance, as the branch will read it."""
    dollars: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    tokens: Annotated[int, Field(ge=0)] = 0
    wall_clock_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """The branch's own budget (0: no limit); under ``run.dollar_cap`` its dollars must fit what the cap leaves."""


BUDGET_POOL = "pool"
"""``Budget.source`` that draws dollars from what ``run.dollar_cap`` leaves unallocated."""


BudgetResource = Literal["dollars", "tokens", "wall_clock_s"]
"""A budget the supervisor can change: USD, tokens, or seconds of wall clock."""


class Budget(_Command):
    """Raise (``amount`` > 0) or lower (< 0) one of the target agent's budgets while the run goes on."""

    kind: Literal["budget"] = "budget"
    resource: BudgetResource
    """Which budget: USD, tokens, or seconds of wall clock."""
    amount: float
    """How much to add to the target's budget; negative takes it away."""
    source: str = ""
    """Where a raise comes from: another agent's name (moved from its budget), ``pool`` (dollars left under
    ``run.dollar_cap``), or empty (the budget simply grows or shrinks)."""


Command = Annotated[
    Pause
    | Resume
    | Redirect
    | Interrupt
    | ApprovalOn
    | ApprovalOff
    | Approve
    | Deny
    | Stop
    | StopRun
    | QuarantinePost
    | RestorePost
    | PinPost
    | Answer
    | Budget
    | TransferMethod
    | Branch,
    Field(discriminator="kind"),
]

RUN_COMMANDS = (StopRun, QuarantinePost, RestorePost, PinPost, TransferMethod)
"""Commands for the run itself (the forum among it), always stored with target ``@run``."""

_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)

_ADAPTER_MODELS: dict[str, type[_Command]] = {
    get_args(model.model_fields["kind"].annotation)[0]: model for model in get_args(get_args(Command)[0])
}
COMMAND_KINDS: tuple[str, ...] = tuple(_ADAPTER_MODELS)
"""Every command's ``kind``, in the order of the union."""


class InvalidCommand(AarError):
    """A command that does not validate; the message is one line that says what to fix."""


def parse_command(kind: str, payload: dict[str, Any] | None = None) -> Command:
    """The command of ``kind`` with ``payload``'s fields; raise ``InvalidCommand`` in one line."""
    if kind not in COMMAND_KINDS:
        raise InvalidCommand(f"unknown command {kind!r}; one of {', '.join(COMMAND_KINDS)}")
    try:
        return _ADAPTER.validate_python({**(payload or {}), "kind": kind})
    except ValidationError as exc:
        problems = "; ".join(_problem(_ADAPTER_MODELS[kind], error) for error in exc.errors())
        raise InvalidCommand(f"{kind}: {problems}") from None


def command_payload(command: Command) -> dict[str, Any]:
    """The fields stored beside the ``kind`` column (everything but ``kind``)."""
    return command.model_dump(mode="json", exclude={"kind"})


def _problem(model: type[BaseModel], error: Any) -> str:
    field = ".".join(str(p) for p in error["loc"][1:]) or "payload"
    if error["type"] == "missing":
        info = model.model_fields.get(field)
        what = f" ({info.description.rstrip('.').lower()})" if info and info.description else ""
        return f"needs {field!r}{what}"
    if error["type"] == "extra_forbidden":
        return f"takes no {field!r}"
    if error["type"] == "string_too_short":
        return f"{field!r} must not be empty"
    return f"{field!r}: {error['msg']}"
