"""The monitors' rule list agrees with the config's ``MonitorRule``: a rule a config may name exists, and
every rule listed reads only event kinds the log can hold."""

from __future__ import annotations

import inspect
from typing import get_args

from aar.config import MonitorRule
from aar.events import EventPayload
from agents.monitors.base import Rule, RuleOptions
from agents.monitors.llm import LlmReview
from agents.monitors.runner import RULES, rule_options

BUILT_ELSEWHERE: dict[str, type[Rule]] = {"llm_review": LlmReview}
"""Rules the runner builds itself (``llm_review`` needs the Anthropic client), not from ``RULES``."""


def _event_kinds() -> set[str]:
    union = get_args(EventPayload)[0]
    return {member.model_fields["kind"].default for member in get_args(union)}


def test_every_configurable_rule_is_listed_once() -> None:
    names = set(get_args(MonitorRule))
    listed = [*RULES, *BUILT_ELSEWHERE]
    assert len(listed) == len(set(listed)), "a rule name is listed twice"
    assert set(listed) == names, f"MonitorRule and the rule list disagree: {sorted(set(listed) ^ names)}"
    for name in names:
        assert issubclass(rule_options(name), RuleOptions), f"{name} has no options model"


def test_each_entry_is_a_concrete_rule_of_its_own() -> None:
    classes = [*RULES.values(), *BUILT_ELSEWHERE.values()]
    for cls in classes:
        assert inspect.isclass(cls) and issubclass(cls, Rule), f"{cls!r} is not a monitor Rule"
        assert not inspect.isabstract(cls), f"{cls.__name__} leaves an abstract method undone"
    assert len(set(classes)) == len(classes), "two rule names build the same class"


def test_each_rule_reads_kinds_the_log_holds() -> None:
    known = _event_kinds()
    assert {"tool.call", "forum.post", "submission.created"} <= known, "the event registry was not read"
    for name, cls in [*RULES.items(), *BUILT_ELSEWHERE.items()]:
        assert cls.kinds, f"{name} reads no event kind"
        unknown = (cls.kinds | cls.sync_kinds) - known
        assert not unknown, f"{name} reads kinds no event has: {sorted(unknown)}"
        assert cls.sync_kinds <= cls.kinds, f"{name} judges at once kinds it does not read"
