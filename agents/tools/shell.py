"""``bash``: run a command in the agent's sandbox, its output streamed to the store as it comes."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Annotated

from pydantic import Field

from aar.events import SandboxExited, SandboxOutput
from agents.coalesce import Coalescer
from agents.tools.base import CallContext, Tool, ToolInput, ToolResult
from sandbox.base import ExecResult, Stream

KEEP_BYTES = 1_000_000
"""Output kept per stream for the tool result event (the model reads a cut of it; ``sandbox.output`` events hold all)."""


class BashInput(ToolInput):
    command: Annotated[str, Field(min_length=1)]
    """The command, run with ``bash -c`` in your workspace."""
    timeout_s: Annotated[float, Field(gt=0)] | None = None
    """Seconds before the command is killed; defaults to (and is capped at) the sandbox's limit."""


class Bash(Tool):
    name = "bash"
    slow = True
    description = (
        "Run a shell command in your sandbox (bash -c, working directory = your workspace; no network). "
        "Returns the exit code and the output (long output is cut in the middle). "
        "Commands are killed after timeout_s seconds, or when the supervisor interrupts them."
    )
    Input = BashInput

    async def run(self, args: BashInput, call: CallContext) -> ToolResult:
        limit = call.config.sandbox.exec_timeout_s
        timeout = min(args.timeout_s or limit, limit)
        sandbox = await call.sandbox.get()

        def emit(key: Hashable, text: str) -> None:
            stream: Stream = "stderr" if key == "stderr" else "stdout"
            call.store.emit(call.agent, SandboxOutput(call_id=call.call_id, stream=stream, text=text))

        lines = Coalescer(emit)

        async def on_output(stream: Stream, line: str) -> None:
            lines.add(stream, line)

        try:
            result = await sandbox.exec(args.command, timeout=timeout, on_output=on_output, keep_bytes=KEEP_BYTES)
        finally:
            lines.flush()
        call.store.emit(
            call.agent,
            SandboxExited(
                call_id=call.call_id,
                exit_code=result.exit_code,
                timed_out=result.timed_out,
                killed=result.killed and not result.timed_out,
                duration_s=round(result.duration_s, 3),
                oom_killed=result.oom_killed,
                touched=result.touched,
            ),
        )
        note = ""
        if args.timeout_s and args.timeout_s > limit:
            note = f"(timeout capped at the sandbox limit of {limit:g}s)\n"
        return ToolResult(note + describe(result, timeout, stopping=call.control.stopping), is_error=not result.ok)


def describe(result: ExecResult, timeout: float, *, stopping: bool = False) -> str:
    """What the model reads: how the command ended, then its output."""
    if result.timed_out:
        head = f"timed out after {timeout:g}s; the command was killed"
    elif result.killed:
        who = "the agent is stopping" if stopping else "the supervisor interrupted it"
        head = f"killed after {result.duration_s:.1f}s: {who}"
    elif result.oom_killed:
        head = f"killed by the kernel for going over the sandbox's memory limit (exit code {result.exit_code})"
    else:
        head = f"exit code {result.exit_code} in {result.duration_s:.1f}s"
    parts = [head]
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr:
        parts.append("[stderr]\n" + result.stderr.rstrip("\n"))
    if not result.stdout and not result.stderr:
        parts.append("(no output)")
    return "\n".join(parts)
