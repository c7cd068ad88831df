"""The monitors' task in the daemon: hear the event stream, run the rules, act like a supervisor.

The runner subscribes to the store's events as the daemon emits them (so a
rule fires while the step that tripped it is still in flight, and no event is
read back from disk), hands each to the rules that read its kind, and turns
every finding into
- a ``monitor.decision`` event (monitor, rule, reason, evidence, action), and
- for ``pause``, ``stop`` and ``quarantine``, a command in the commands table,
  applied by the team's command poller exactly like a supervisor's (woken at
  once through ``ctx.commands_waiting``).

Claims in forum posts are checked whatever the configured monitors (a
``forum.claim`` event per number); a ``contradicted_claims`` monitor only
decides what else happens. On start (a resume) the rules are fed the log's
earlier events with ``replay`` set, so counters and idle clocks carry on
without deciding anything twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aar.commands import RUN_TARGET, Pause, QuarantinePost, Stop
from aar.config import MonitorConfig, MonitorRule
from aar.errors import AarError
from aar.events import EventPayload, LogLevel, MonitorDecided, RunLog, Unreadable
from aar.runtime import RunContext
from agents.monitors.base import Finding, MonitorEnv, Rule, RuleOptions, Seen
from agents.monitors.claims import ContradictedClaims
from agents.monitors.flags import Probing
from agents.monitors.shell import LabelHunting
from agents.monitors.source import HardcodedPredictions
from agents.monitors.stuck import ErrorStreak, Idle, Loops

log = logging.getLogger("aar.agents.monitors")

TICK_S = 5.0
"""How often time-based rules (idleness) are asked."""
REPLAY_PAGE = 5000

RULES: dict[MonitorRule, type[Rule]] = {
    "label_hunting": LabelHunting,
    "hardcoded_predictions": HardcodedPredictions,
    "probing": Probing,
    "contradicted_claims": ContradictedClaims,
    "loops": Loops,
    "error_streak": ErrorStreak,
    "idle": Idle,
}
"""Rules by ``[[monitors]]`` ``rule`` name (``llm_review`` is built apart: it needs the Anthropic SDK)."""


def rule_options(rule: MonitorRule) -> type[RuleOptions]:
    """The options model of a rule by name: its settings' defaults and checks."""
    if rule == "llm_review":
        from agents.monitors.llm import LlmReviewOptions

        return LlmReviewOptions
    return RULES[rule].Options


class MonitorRunner:
    """The run's monitors; ``await runner.run()`` until cancelled."""

    def __init__(self, ctx: RunContext, *, tick_s: float = TICK_S) -> None:
        self.ctx = ctx
        self.tick_s = tick_s
        self.clock = ctx.clock
        self.env = MonitorEnv(
            ctx.store, ctx.config, frozenset(a.name for a in ctx.config.resolved_agents()), clock=ctx.clock
        )
        self.rules: list[Rule] = []
        self.decided: set[tuple[str, str]] = set()
        self.decisions = 0
        self._queue: asyncio.Queue[Seen | tuple[Rule, list[Finding]]] = asyncio.Queue()
        self._by_kind: dict[str, list[Rule]] = {}
        self._now: dict[str, list[Rule]] = {}
        """Per kind, the rules judged as the event is emitted."""
        self._later: frozenset[str] = frozenset()
        """Kinds some rule must read with I/O (the store, a model): queued for the runner's task."""
        self._handling = 0
        """Items taken off the queue and not yet done with."""
        self._getter: asyncio.Task[Seen | tuple[Rule, list[Finding]]] | None = None
        """The wait on the queue; done while an item it took waits for the loop to handle it."""
        self._unsubscribe: Callable[[], None] | None = None
        self._replayed = 0
        """The id of the last event the replay fed to the rules (a replay that failed goes on from there)."""
        self.listening = asyncio.Event()
        """Set once the runner hears the event stream (after the replay): what is emitted from then on is judged."""

    def build(self) -> None:
        """Make the configured rules (claims are always checked; an LLM monitor needs an API key)."""
        configs = list(self.ctx.config.monitors)
        if not any(c.rule == "contradicted_claims" for c in configs):
            # Checks claims, decides nothing: no monitor asked for an action on them.
            self.add(_Silent(MonitorConfig(rule="contradicted_claims"), self.env))
        for config in configs:
            rule = self._make(config)
            if rule is not None:
                self.add(rule)

    def add(self, rule: Rule) -> None:
        """Run ``rule`` with the others (``build`` adds the configured ones)."""
        self.rules.append(rule)
        for kind in rule.kinds:
            self._by_kind.setdefault(kind, []).append(rule)
            if rule.judged_at_once(kind):
                self._now.setdefault(kind, []).append(rule)
        self._later = frozenset(k for k, rules in self._by_kind.items() if not all(r.judged_at_once(k) for r in rules))

    def _make(self, config: MonitorConfig) -> Rule | None:
        if config.rule != "llm_review":
            return RULES[config.rule](config, self.env)
        try:
            from agents.anthropic_backend import AnthropicBackend, load_api_key
            from agents.claude.pricing import PRICES, Price
            from agents.monitors.llm import LlmReview, LlmReviewOptions

            anthropic = self.ctx.config.anthropic
            model = LlmReviewOptions.model_validate(config.options).model
            prices = {**PRICES, **{m: Price(**p.model_dump()) for m, p in anthropic.prices.items()}}
            backend = AnthropicBackend(
                anthropic, api_key=load_api_key(anthropic), store=self.ctx.store, models=[model], prices=prices
            )
        except AarError as exc:
            self._note("warning", f"monitor {config.label} is off: {exc}")
            return None
        return LlmReview(config, self.env, backend=backend, deliver=self._deliver)

    # ------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Judge what is heard until cancelled. Run again after a failure (the daemon's supervisor restarts it),
        it goes on where it stopped: the rules keep their state, the stream was heard meanwhile, and the log
        is replayed once."""
        if not self.rules:
            self.build()
        if self._unsubscribe is None:
            await self.replay()
            self._unsubscribe = self.ctx.store.subscribe(self._heard, self._by_kind)
            self.listening.set()
        # Both waits live across turns of the loop, so an item taken off the queue is never dropped by a tick
        # (nor by a failure: the next run takes it from the same wait).
        ticker = asyncio.ensure_future(self.clock.sleep(self.tick_s))
        try:
            while True:
                getter = self._getter = self._getter or asyncio.ensure_future(self._queue.get())
                await asyncio.wait((getter, ticker), return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    item, self._getter = getter.result(), None
                    self._handling += 1
                    await self._safely(item)
                    while not self._queue.empty():
                        self._handling += 1
                        await self._safely(self._queue.get_nowait())
                if ticker.done():
                    await self.tick(self.clock.time())
                    ticker = asyncio.ensure_future(self.clock.sleep(self.tick_s))
        except asyncio.CancelledError:
            await self.aclose()
            raise
        finally:
            ticker.cancel()

    async def aclose(self) -> None:
        """Stop hearing the stream and close the rules (a rule that fails to close is logged)."""
        if self._getter is not None:
            self._getter.cancel()
            self._getter = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for rule in self.rules:
            try:
                await rule.aclose()
            except Exception:
                log.exception("monitor %s failed to close", rule.config.label)

    @property
    def caught_up(self) -> bool:
        """Nothing heard is waiting to be judged or acted on."""
        return self._queue.empty() and self._handling == 0 and not (self._getter is not None and self._getter.done())

    def _heard(self, agent: str | None, payload: EventPayload) -> None:
        kind: str = payload.kind
        seen = Seen(agent, payload, self.clock.time())
        for rule in self._now.get(kind, ()):
            try:
                findings = rule.see(seen)
            except Exception:  # a rule's bug must not reach the writer of the event
                log.exception("monitor %s failed on %s", rule.config.label, kind)
                continue
            if findings:
                self._queue.put_nowait((rule, findings))
        if kind in self._later:
            self._queue.put_nowait(seen)

    async def _safely(self, item: Seen | tuple[Rule, list[Finding]]) -> None:
        """Handle one item; a failure (the store busy past its timeout, a bug) is logged, and the next goes on."""
        try:
            await self._handle(item)
        except Exception as exc:
            log.exception("monitors: handling %r failed", item)
            self._note("error", f"monitors: a decision failed: {type(exc).__name__}: {exc}")
        finally:
            self._handling -= 1

    def _deliver(self, rule: Rule, findings: list[Finding]) -> None:
        self._queue.put_nowait((rule, findings))

    async def _handle(self, item: Seen | tuple[Rule, list[Finding]]) -> None:
        if isinstance(item, tuple):
            rule, findings = item
            for finding in findings:
                await self.act(rule, finding)
            return
        for rule in self._by_kind.get(item.payload.kind, ()):
            if rule.judged_at_once(item.payload.kind):
                continue  # judged when it was emitted
            try:
                findings = await rule.observe(item)
            except Exception:  # a rule's bug must not take the other monitors down
                log.exception("monitor %s failed on %s", rule.config.label, item.payload)
                continue
            for finding in findings:
                await self.act(rule, finding)

    async def tick(self, now: float) -> None:
        for rule in self.rules:
            for finding in rule.tick(now):
                await self.act(rule, finding)

    async def replay(self) -> None:
        """Feed the log's earlier events to the rules (``replay``), so their state survives a resume; an
        unreadable one is logged and skipped."""
        kinds = sorted(self._by_kind)
        while kinds:
            rows = await self.ctx.store.events_after(self._replayed, limit=REPLAY_PAGE, kinds=kinds)
            for row in rows:
                self._replayed = row.id
                if isinstance(row.payload, Unreadable):
                    log.warning("monitors: skipped %s", row.payload.describe(row.id))
                    continue
                seen = Seen(row.agent, row.payload, row.ts)
                for rule in self._by_kind.get(row.kind, ()):
                    try:
                        await rule.observe(seen, replay=True)
                    except Exception:  # a rule's bug on one old event must not lose the others' state
                        log.exception("monitor %s failed to replay event %d", rule.config.label, row.id)
            if len(rows) < REPLAY_PAGE:
                return

    # ------------------------------------------------------------ acting

    async def act(self, rule: Rule, finding: Finding) -> None:
        """Record the decision and issue its command, once per (monitor, finding key)."""
        if isinstance(rule, _Silent):
            return
        config = rule.config
        marker = (config.label, finding.key or f"{finding.agent}:{finding.reason}")
        if marker in self.decided:
            return
        self.decided.add(marker)
        action = finding.action or config.action
        if action == "quarantine" and finding.post_id is None:
            action = "flag"  # a method cannot be quarantined; the supervisor decides
        self.ctx.store.emit(
            finding.agent,
            MonitorDecided(
                monitor=config.label,
                rule=config.rule,
                action=action,
                reason=finding.reason,
                evidence=finding.evidence,
                post_id=finding.post_id,
                submission_id=finding.submission_id,
            ),
        )
        self.decisions += 1
        why = f"monitor {config.label}: {finding.reason}"
        store = self.ctx.store
        if action == "pause":
            await store.issue_command(Pause(reason=why), finding.agent)
        elif action == "stop":
            await store.issue_command(Stop(reason=why), finding.agent)
        elif action == "quarantine" and finding.post_id is not None:
            quarantine = QuarantinePost(post_id=finding.post_id, reason=finding.reason, by=f"monitor {config.label}")
            await store.issue_command(quarantine, RUN_TARGET)
        else:
            return
        self.ctx.commands_waiting.set()

    def _note(self, level: LogLevel, message: str) -> None:
        log.log(logging.getLevelName(level.upper()), "%s", message)
        self.ctx.store.emit(None, RunLog(level=level, message=message))


class _Silent(ContradictedClaims):
    """The claim checker when no ``contradicted_claims`` monitor is configured: verdicts, no decisions."""


async def run_monitors(ctx: RunContext) -> None:
    """What the daemon runs beside the team and the evaluator, until cancelled."""
    await MonitorRunner(ctx).run()
