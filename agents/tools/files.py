"""``read_file``, ``write_file`` and ``edit_file``: the agent's workspace, through its sandbox.

Paths are relative to the workspace; the sandbox refuses any that leave it,
hold a link or a control character, or name anything but a regular file
(``sandbox.files``: opened relative to the workspace's directory fd, never
following a link, non-blocking, reads bounded). Edits are exact string replacements, so the model must
quote what it changes and an ambiguous edit is refused rather than guessed.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from agents.tools.base import CallContext, Tool, ToolError, ToolInput, ToolResult, read_text


class ReadInput(ToolInput):
    path: Annotated[str, Field(min_length=1)]
    """File path relative to your workspace."""
    start_line: Annotated[int, Field(ge=1)] = 1
    """First line to return (1-based)."""
    max_lines: Annotated[int, Field(ge=1, le=20_000)] = 2_000
    """How many lines to return at most."""


class WriteInput(ToolInput):
    path: Annotated[str, Field(min_length=1)]
    """File path relative to your workspace; folders are created."""
    content: str
    """The whole new content of the file."""


class EditInput(ToolInput):
    path: Annotated[str, Field(min_length=1)]
    """File path relative to your workspace."""
    old: Annotated[str, Field(min_length=1)]
    """Exact text to replace; it must occur exactly once unless replace_all is true."""
    new: str
    """Text to put in its place."""
    replace_all: bool = False
    """Replace every occurrence of old."""


class ReadFile(Tool):
    name = "read_file"
    description = (
        "Read a text file of your workspace, with line numbers. Use start_line / max_lines for a part of a long file."
    )
    Input = ReadInput

    async def run(self, args: ReadInput, call: CallContext) -> ToolResult:
        lines = (await read_text(call, args.path)).splitlines()
        if not lines:
            return ToolResult(f"{args.path} is empty")
        if args.start_line > len(lines):
            raise ToolError(f"{args.path} has {len(lines)} lines; start_line {args.start_line} is past its end")
        end = min(len(lines), args.start_line - 1 + args.max_lines)
        shown = "\n".join(f"{n:6}\t{lines[n - 1]}" for n in range(args.start_line, end + 1))
        more = f"\n[lines {args.start_line}-{end} of {len(lines)}]" if end < len(lines) or args.start_line > 1 else ""
        return ToolResult(shown + more)


class WriteFile(Tool):
    name = "write_file"
    description = "Create or overwrite a file in your workspace with the given content."
    Input = WriteInput

    async def run(self, args: WriteInput, call: CallContext) -> ToolResult:
        sandbox = await call.sandbox.get()
        data = args.content.encode("utf-8")
        await sandbox.write_file(args.path, data)
        return ToolResult(f"wrote {len(data)} bytes ({len(args.content.splitlines())} lines) to {args.path}")


class EditFile(Tool):
    name = "edit_file"
    description = (
        "Replace an exact piece of text in a workspace file. `old` must occur exactly once "
        "(quote enough surrounding lines), or set replace_all to replace every occurrence."
    )
    Input = EditInput

    async def run(self, args: EditInput, call: CallContext) -> ToolResult:
        text = await read_text(call, args.path)
        count = text.count(args.old)
        if count == 0:
            raise ToolError(f"the text to replace does not occur in {args.path}; read the file and quote it exactly")
        if count > 1 and not args.replace_all:
            raise ToolError(
                f"the text to replace occurs {count} times in {args.path}; quote more context or set replace_all"
            )
        updated = text.replace(args.old, args.new) if args.replace_all else text.replace(args.old, args.new, 1)
        sandbox = await call.sandbox.get()
        await sandbox.write_file(args.path, updated.encode("utf-8"))
        return ToolResult(f"replaced {count if args.replace_all else 1} occurrence(s) in {args.path}")
