"""Where Enter on an inbox item leads: the agent on the main screen, a post, a submission or a job."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import DataTable, OptionList

from aar.store import InboxRow

if TYPE_CHECKING:
    from tui.app import AarApp


async def jump(app: AarApp, item: InboxRow) -> None:
    """Close the inbox and show what ``item`` is about: its post, submission or job, or else its agent."""
    from tui.screens.inbox import InboxScreen

    if isinstance(app.screen, InboxScreen):
        await app.pop_screen()
    if item.post_id is not None:
        await to_post(app, item.post_id)
    elif item.submission_id is not None:
        await to_submission(app, item.submission_id)
    elif item.job_id is not None:
        await to_job(app, item.job_id)
    elif item.agent is not None:
        to_agent(app, item.agent)


def to_agent(app: AarApp, agent: str) -> None:
    """Focus ``agent`` on the main screen (the inbox was above it)."""
    if agent in app.main.model.agents:
        app.main.focus_named(agent)
    else:
        app.notify(f"no agent {agent} in this run", severity="warning", markup=False)


async def to_post(app: AarApp, post_id: int) -> None:
    """The forum, with ``post_id`` chosen and its thread open."""
    from tui.screens.forum import ForumScreen

    screen = ForumScreen()
    await app.push_screen(screen)
    options = screen.query_one("#post-list", OptionList)
    try:
        options.highlighted = options.get_option_index(str(post_id))
    except Exception:  # older than the posts listed: show its thread all the same
        screen.selected = post_id
        screen.show_thread(post_id)


async def to_submission(app: AarApp, submission_id: int) -> None:
    """The leaderboard, with the cursor on the submission's row (or a note that it is not scored yet)."""
    from tui.screens.leaderboard import LeaderboardScreen
    from tui.widgets.leaderboard_table import LeaderboardTable

    screen = LeaderboardScreen(app.model)
    await app.push_screen(screen)
    table = screen.query_one(LeaderboardTable)
    index = next(
        (i for i, r in enumerate(table.rows_shown) if getattr(r, "submission_id", None) == submission_id), None
    )
    if index is None:
        app.notify(f"submission #{submission_id} has no score on the leaderboard yet", markup=False)
    else:
        table.move_cursor(row=index)


async def to_job(app: AarApp, job_id: int) -> None:
    """The evaluator's jobs, with the cursor on ``job_id`` once the list is read."""
    from tui.screens.jobs import JobsScreen

    screen = JobsScreen()
    await app.push_screen(screen)
    for worker in list(app.workers):
        if worker.group == "jobs" and worker.node is screen:
            await worker.wait()
    table = screen.query_one(DataTable)
    for index in range(table.row_count):
        if str(table.get_row_at(index)[0]) == str(job_id):
            table.move_cursor(row=index)
            return
    app.notify(f"job {job_id} is not among the jobs listed", markup=False)
