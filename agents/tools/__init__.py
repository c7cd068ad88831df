"""The tools an agent can call; ``default_toolbox()`` is the set every researcher gets."""

from __future__ import annotations

from agents.tools.ask import AskSupervisor
from agents.tools.base import CallContext, Tool, Toolbox, ToolError, ToolResult, for_model
from agents.tools.files import EditFile, ReadFile, WriteFile
from agents.tools.forum import ForumPost, ForumRead, ForumSearch
from agents.tools.shell import Bash
from agents.tools.submit import Finish, Leaderboard, SubmitMethod, SubmitPredictions

__all__ = ["CallContext", "Tool", "ToolError", "ToolResult", "Toolbox", "default_toolbox", "for_model"]


def default_toolbox() -> Toolbox:
    return Toolbox(
        [
            Bash(),
            ReadFile(),
            WriteFile(),
            EditFile(),
            ForumRead(),
            ForumSearch(),
            ForumPost(),
            SubmitMethod(),
            SubmitPredictions(),
            Leaderboard(),
            AskSupervisor(),
            Finish(),
        ]
    )
