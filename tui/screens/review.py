"""The review desk: the methods a supervisor should look at before trusting them, one at a time.

Left, the candidates (``aar.review``: the best verified methods, then every reviewed submission) and the
chosen one's lineage: the steps of its author that wrote the file, the evaluator's results it saw and the
forum reads before it submitted; Enter on a step opens the transcript there. Right, everything the run
knows of the candidate (scores per seed, final and on each transfer target, flags, canary, monitors,
claiming posts, device time, the verdict) and its source, its diff against the same agent's method
before it (``d``), or its diff from the reference method it is closest to (``f``: what the agent changed
of a published method, and how little when it is a renamed copy). A verdict (accept, reject, needs work) asks for a note and is written as ``aar review
--verdict`` writes it: an event and a forum post that tells the team. Agent text is data throughout.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from aar.events import Verdict
from aar.review import Candidate
from aar.review_lineage import ReviewDetail, unified_diff
from aar.store import VerdictRow
from tui.model import Changes
from tui.renderables import data
from tui.screens.base import RunScreen
from tui.screens.dialogs import PromptScreen
from tui.screens.inbox import supervisor_name
from tui.text import one_line
from tui.widgets.code_view import CodeView
from tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from tui.app import AarApp

MARKS: dict[str, tuple[str, str]] = {"accept": ("✓", "green"), "reject": ("✗", "red"), "needs-work": ("↺", "yellow")}
"""A verdict's mark in the list, in a glyph and a colour."""
WHAT = {"write": "write ", "result": "result", "read": "read  "}
Diff = Literal["previous", "reference"] | None
"""What the code pane shows: the source (None), or its diff against the previous method or a reference."""


def verdict_text(v: VerdictRow | None) -> Text:
    if v is None:
        return Text("none yet · a accept · x reject · w needs work", style="dim")
    mark, style = MARKS[v.verdict]
    out = Text(f"{mark} {v.verdict}", style=f"bold {style}", end="")
    out.append_text(data(f" by {v.by} at {datetime.fromtimestamp(v.ts).strftime('%m-%d %H:%M')}"))
    if v.note:
        out.append(": ")
        out.append_text(data(one_line(v.note, 300)))
    return out


def candidate_option(rank: int | None, c: Candidate) -> Option:
    """Two lines: the verdict's mark, rank, id, agent and file; then the feedback PGR with its interval."""
    mark, style = MARKS[c.verdict.verdict] if c.verdict else ("·", "dim")
    head = Text(f"{mark} ", style=style, end="")
    head.append(f"{rank if rank is not None else '-':>2} #{c.submission_id} ", style="bold")
    head.append_text(data(f"{c.agent} · {c.label.rsplit('/', 1)[-1] or c.kind}"))
    head.append(f"\n     {c.feedback.text() if c.feedback else 'not scored'}", style="dim")
    return Option(head, id=str(c.submission_id))


def facts(c: Candidate) -> RenderableType:
    """The candidate's header, its scores as a table, then flags, canary, monitors, claims, device, verdict."""
    head = data(f"#{c.submission_id} {c.agent} · {c.label or '-'} · {c.kind}, {c.status}", "bold")
    scores = Table(box=None, show_header=True, header_style="dim", pad_edge=False, expand=False)
    scores.add_column("score", no_wrap=True, min_width=8)
    scores.add_column("PGR [95% CI]", no_wrap=True, min_width=20)
    scores.add_column("detail", no_wrap=True, overflow="ellipsis")
    if c.feedback:
        seeds = f"seed acc {' '.join(f'{a:.3f}' for a in c.per_seed_accuracy)}" if c.per_seed_accuracy else ""
        scores.add_row(c.split or "feedback", c.feedback.text(), seeds)
    scores.add_row("final", c.final.text() if c.final else "not run", "")
    for t in c.transfers:
        vs = t.vs_vanilla
        detail = f"vs vanilla {vs.diff:+.3f} [{vs.ci_low:+.3f}, {vs.ci_high:+.3f}]" if vs else ""
        scores.add_row(data(f"→ {t.target}"), t.text().split(": PGR ", 1)[-1].split(", vs", 1)[0], detail)
    lines: list[RenderableType] = [head, scores]
    if c.flags:
        lines.append(_labelled("flags ", ", ".join(c.flags), "bold yellow"))
    if c.canary:
        lines.append(_labelled("canary ", " · ".join(f"{k} {v}" for k, v in c.canary.items())))
    if c.monitor_decisions:
        lines.append(_labelled("monitors ", f"{c.monitor_decisions} decision(s) on {c.agent}"))
        lines += [data(f"  {line}", "dim") for line in c.monitor_latest]
    for claim in c.claims:
        ok = claim.verdict == "verified"
        line = Text("✓ " if ok else "✗ ", style="green" if ok else "red", end="")
        line.append_text(data(f"post #{claim.post_id} by {claim.author} ({one_line(claim.title, 60)}): {claim.claim}"))
        lines.append(line)
    if c.device_s or c.throughput:
        lines.append(_labelled("device ", f"{c.device_s:.1f} s" + (f" · {c.throughput}" if c.throughput else "")))
    verdict = Text("verdict ", style="dim", end="")
    verdict.append_text(verdict_text(c.verdict))
    lines.append(verdict)
    for part in lines:
        if isinstance(part, Text):
            part.end = "\n"  # one line each (``data`` makes inline text)
    return Group(*lines)


def _labelled(label: str, value: str, style: str = "") -> Text:
    out = Text(label, style="dim", end="")
    out.append_text(data(value, style))
    return out


class ReviewScreen(RunScreen):
    CSS_PATH = "review.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to where the desk was opened", id="review.back"),
        Binding(
            "d",
            "toggle_diff",
            "Diff",
            tooltip="The chosen method's source, or its diff against the same agent's method before it",
            id="review.diff",
        ),
        Binding(
            "f",
            "toggle_reference",
            "From reference",
            tooltip="The chosen method's source, or its diff from the reference method it is closest to",
            id="review.reference",
        ),
        Binding(
            "a", "verdict('accept')", "Accept", tooltip="Accept the chosen submission, with a note", id="review.accept"
        ),
        Binding(
            "x", "verdict('reject')", "Reject", tooltip="Reject the chosen submission, with a note", id="review.reject"
        ),
        Binding(
            "w",
            "verdict('needs-work')",
            "Needs work",
            tooltip="Send the chosen submission back to its author, with a note",
            id="review.needs-work",
        ),
        Binding(
            "tab",
            "app.focus_next",
            "Switch pane",
            show=False,
            tooltip="Move between the candidates, the lineage and the source",
            id="review.switch",
        ),
    ]

    def __init__(
        self,
        found: list[Candidate] | None = None,
        detail: ReviewDetail | None = None,
        *,
        submission_id: int | None = None,
    ) -> None:
        """``found`` and the chosen one's ``detail``: read before the screen opens (``open_desk``), so that its
        first frame shows them; ``submission_id``: the candidate to choose first, else the best."""
        super().__init__()
        self.candidates: list[Candidate] = []
        self.chosen: Candidate | None = None
        self.detail: ReviewDetail | None = None
        self.diff: Diff = None
        self._want = submission_id
        self._found = found
        self._details: dict[int, ReviewDetail] = {detail.submission.id: detail} if detail else {}
        """What led to each candidate and its source, once read: they never change."""

    def compose(self) -> ComposeResult:
        yield Static(id="review-title")
        with Horizontal(id="review-body"):
            with Vertical(id="review-left"):
                yield OptionList(id="review-list")
                yield OptionList(id="review-lineage")
            with Vertical(id="review-right"):
                with VerticalScroll(id="review-facts-box"):
                    yield Static(id="review-facts")
                yield CodeView(id="review-source")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#review-list").border_title = "candidates"
        self.query_one("#review-lineage").border_title = "lineage · enter opens the step"
        self.query_one("#review-source").border_title = "source"
        self.query_one("#review-list", OptionList).focus()
        if self._found is not None:
            self._fill(self._found)
            self._found = None
        else:
            self.query_one("#review-title", Static).update("review desk · reading the candidates…")
            self.load()

    def refresh_views(self, changes: Changes) -> None:
        """New scores may change the ranking or a candidate's numbers."""
        if changes.board:
            self.load()

    def known(self, submission_id: int) -> ReviewDetail | None:
        """A candidate's detail if the desk has read it (it never changes)."""
        return self._details.get(submission_id)

    def reopen(self, found: list[Candidate], detail: ReviewDetail | None, *, submission_id: int | None) -> None:
        """Shown again (``open_desk``): the latest candidates, ``submission_id`` chosen, its source (not a diff)."""
        if detail is not None:
            self._details[detail.submission.id] = detail
        was_diff, self.diff = self.diff, None
        self.query_one("#review-list", OptionList).focus()
        if found == self.candidates and self.chosen is not None and self.chosen.submission_id == submission_id:
            if was_diff:
                self._show_code()
            return  # as it was left: nothing to draw again
        self.chosen, self.detail, self._want = None, None, submission_id
        self._fill(found)

    # ------------------------------------------------------------ reading

    @work(group="review", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        self._fill(await self.aar.client.review())

    def _fill(self, found: list[Candidate]) -> None:
        keep = self.chosen.submission_id if self.chosen else self._want
        self._want = None
        self.candidates = found
        reviewed = sum(1 for c in found if c.verdict)
        top = sum(1 for c in found if c.top)
        self.query_one("#review-title", Static).update(
            f"review desk · {top} best verified method(s) · {reviewed} reviewed · the team reads every verdict"
        )
        options = self.query_one("#review-list", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options([candidate_option(i if c.top else None, c) for i, c in enumerate(found, 1)])
        if not found:
            options.add_option(Option(Text("nothing to review yet: no verified method", style="dim"), disabled=True))
            self._show_nothing()
            return
        index = next((i for i, c in enumerate(found) if c.submission_id == keep), highlighted or 0)
        options.highlighted = min(index, len(found) - 1)
        self.choose(found[options.highlighted])

    @on(OptionList.OptionHighlighted, "#review-list")
    def highlighted(self, event: OptionList.OptionHighlighted) -> None:
        index = event.option_index
        if 0 <= index < len(self.candidates) and self.candidates[index] is not self.chosen:
            self.choose(self.candidates[index])

    def choose(self, candidate: Candidate) -> None:
        """Show what is known at once; the source and the lineage follow from the store unless read before."""
        same = self.chosen is not None and self.chosen.submission_id == candidate.submission_id
        self.chosen = candidate
        self.query_one("#review-facts", Static).update(facts(candidate))
        if same and self.detail is not None:
            return
        known = self._details.get(candidate.submission_id)
        if known is not None:
            self._show_detail(known)
        else:
            self.load_detail(candidate.submission_id)

    @work(group="review-detail", exclusive=True, exit_on_error=False)
    async def load_detail(self, submission_id: int) -> None:
        detail = await self.aar.client.review_detail(submission_id)
        self._details[submission_id] = detail
        if self.chosen is not None and self.chosen.submission_id == submission_id:
            self._show_detail(detail)

    def _show_detail(self, detail: ReviewDetail) -> None:
        self.detail = detail
        self._show_code()
        lineage = self.query_one("#review-lineage", OptionList)
        lineage.clear_options()
        options = []
        for index, step in enumerate(detail.lineage):
            line = Text(no_wrap=True, overflow="ellipsis", end="")
            line.append(f"{step.step:>4} {WHAT[step.what]} ", style="dim")
            line.append_text(data(step.text))
            options.append(Option(line, id=str(index)))
        if not options:
            options.append(Option(Text("no step of its author wrote it or read results", style="dim"), disabled=True))
        lineage.add_options(options)

    def _show_nothing(self) -> None:
        self.chosen = self.detail = None
        self.query_one("#review-facts", Static).update("")
        self.query_one(CodeView).show("")
        self.query_one("#review-lineage", OptionList).clear_options()

    def _show_code(self) -> None:
        detail, view = self.detail, self.query_one(CodeView)
        if detail is None:
            return
        sub = detail.submission
        if self.diff is None:
            view.border_title = data(f"source · {sub.label or sub.kind}")
            view.show(detail.source, kind="source")
            return
        if self.diff == "reference":
            self._show_reference(detail, view)
            return
        if detail.previous is None:
            view.border_title = data(f"diff · {sub.agent} submitted no method before #{sub.id}")
            view.show(f"# {sub.agent} submitted no method before #{sub.id}: nothing to compare with", kind="diff")
            return
        prev = detail.previous
        lines = unified_diff(
            detail.previous_source,
            detail.source,
            f"#{prev.id} {prev.label or prev.kind}",
            f"#{sub.id} {sub.label or sub.kind}",
        )
        view.border_title = data(f"diff · #{prev.id} → #{sub.id}")
        view.show(lines or [f"(the same source as #{prev.id})"], kind="diff")

    def _show_reference(self, detail: ReviewDetail, view: CodeView) -> None:
        sub, ref = detail.submission, detail.reference
        if ref is None:
            what = "a prediction file has no source" if sub.kind != "method" else "no reference method is installed"
            view.border_title = data(f"from reference · #{sub.id}")
            view.show(f"# {what}: nothing to compare with", kind="diff")
            return
        lines = unified_diff(ref.source, detail.source, f"reference {ref.name}", f"#{sub.id} {sub.label or sub.kind}")
        view.border_title = data(f"from reference · {ref.name} → #{sub.id} · {ref.similarity:.0%} alike")
        view.show(lines or [f"(the same source as the reference method {ref.name})"], kind="diff")

    # ------------------------------------------------------------ keys

    def action_toggle_diff(self) -> None:
        self.diff = None if self.diff == "previous" else "previous"
        self._show_code()

    def action_toggle_reference(self) -> None:
        self.diff = None if self.diff == "reference" else "reference"
        self._show_code()

    def action_verdict(self, verdict: Literal["accept", "reject", "needs-work"]) -> None:
        c = self.chosen
        if c is None:
            self.notify("nothing to review yet", severity="warning", markup=False)
            return
        what = one_line(f"#{c.submission_id} ({c.label or c.kind} by {c.agent})", 80)
        prompt = PromptScreen(
            f"{verdict} {what}: a note for the team (Enter sends, Escape writes nothing)",
            placeholder="why: the team reads it as a forum post from supervisor",
        )

        def answered(note: str | None) -> None:
            if note is not None:
                self.record(c.submission_id, verdict, note)

        self.app.push_screen(prompt, answered)

    @work(group="review-verdict", exit_on_error=False)
    async def record(self, submission_id: int, verdict: Verdict, note: str) -> None:
        row = await self.aar.client.verdict(submission_id, verdict, note, by=supervisor_name())
        told = one_line(row.agent or "the team", 40)
        self.notify(
            f"submission #{submission_id}: {verdict} recorded (forum post #{row.post_id} tells {told})", markup=False
        )
        self.load()

    @on(OptionList.OptionSelected, "#review-lineage")
    def open_step(self, event: OptionList.OptionSelected) -> None:
        """The author's transcript at that step."""
        if self.detail is None or event.option.id is None:
            return
        step = self.detail.lineage[int(event.option.id)]
        view = self.aar.model.agents.get(step.agent)
        if view is None:
            self.notify(f"no agent {one_line(step.agent, 40)} in this run", severity="warning", markup=False)
            return
        from tui.screens.inspect_step import InspectAtStep

        self.app.push_screen(InspectAtStep(view, step.step))


DESK = "review-desk"
"""The name the desk is installed under: built once, then shown again on the store's latest (its widgets'
compose, styles and first layout took half of each open)."""


async def open_desk(app: AarApp, submission_id: int | None = None) -> None:
    """Read the candidates and the first one's detail, then open the desk on them: its first frame is whole."""
    found = await app.client.review()
    first = next((c for c in found if c.submission_id == submission_id), found[0] if found else None)
    want = first.submission_id if first else None
    desk = app.get_screen(DESK) if app.is_screen_installed(DESK) else None
    if isinstance(desk, ReviewScreen) and desk in app.screen_stack:
        desk = None  # open already, under this screen: a desk of its own
    known = desk.known(want) if isinstance(desk, ReviewScreen) and want is not None else None
    detail = known or (await app.client.review_detail(want) if want is not None else None)
    if isinstance(desk, ReviewScreen):
        desk.reopen(found, detail, submission_id=want)
        await app.push_screen(DESK)
        return
    screen = ReviewScreen(found, detail, submission_id=want)
    if not app.is_screen_installed(DESK):
        app.install_screen(screen, DESK)
        await app.push_screen(DESK)
    else:
        await app.push_screen(screen)
