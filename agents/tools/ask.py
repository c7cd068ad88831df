"""``ask_supervisor``: an agent asks the human a question and waits for the answer.

The question goes to the supervisor's inbox (an ``agent.ask`` event); the
agent pauses at the end of this step until the supervisor answers (an
``answer`` command) or lets it go on (``resume``). The answer reaches the
agent as a supervisor message before its next model call.

One open question per agent: a second call before the first is answered is
refused with one line (not queued, not waited on). Waiting inside the call
would hold the step, so the agent could not even reach the pause that the
first question asked for; queueing would let fifty calls in one model turn
put fifty blocking items in the supervisor's inbox. Refused, the agent learns
to put everything in one question, and the supervisor reads one.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aar.events import SupervisorAsked
from agents.tools.base import CallContext, Tool, ToolError, ToolInput, ToolResult


class AskInput(ToolInput):
    question: Annotated[str, Field(min_length=1, max_length=4000)]
    """The question, complete in itself: the supervisor reads it in a list, away from your transcript."""


class AskSupervisor(Tool):
    name = "ask_supervisor"
    description = (
        "Ask the human supervisor a question when you are blocked or unsure what is allowed. You are paused "
        "until they answer; the answer arrives as a supervisor message. One question at a time: ask everything "
        "at once."
    )
    Input = AskInput

    async def run(self, args: AskInput, call: CallContext) -> ToolResult:
        question = args.question.strip()
        if call.control.asking is not None:
            raise ToolError(
                f"not asked: your question {call.control.asking} is still open and you are paused until the "
                "supervisor answers it; put everything you need to ask in one question"
            )
        call.store.emit(call.agent, SupervisorAsked(step=call.step, question=question, call_id=call.call_id))
        call.control.ask(call.call_id)
        return ToolResult(
            f"asked the supervisor (question {call.call_id}); you are paused until they answer, "
            "and their answer comes as a supervisor message"
        )
