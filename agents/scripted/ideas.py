"""The ideas a scripted researcher can try: reference methods with new settings, and combinations.

Each idea has a stable key (what a claim on the forum names, so agents can
see what is taken) and writes itself out as a method file that follows the
evaluator's method contract.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from itertools import zip_longest

Param = tuple[str, float | int | bool]


@dataclass(frozen=True)
class Idea:
    family: str
    params: tuple[Param, ...]

    @property
    def key(self) -> str:
        return f"{self.family}({', '.join(f'{k}={v}' for k, v in self.params)})"

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", self.key.lower()).strip("_")

    @property
    def path(self) -> str:
        return f"methods/{self.slug}.py"

    def source(self, author: str) -> str:
        p = dict(self.params)
        head = f'"""{self.key}, by {author} (scripted researcher)."""\n\n'
        if self.family in REFERENCE:
            args = ", ".join(f"{k}={v!r}" for k, v in self.params)
            return (
                head
                + f"from evaluator.compute.methods import {self.family}\n\n\ndef run(ctx):\n    return {self.family}.run(ctx, {args})\n"
            )
        if self.family == "filtered_confidence":
            return head + (
                "from evaluator.compute.methods import confidence, filtering\n\n\n"
                "def run(ctx):\n"
                f"    idx = filtering.confident_subset(ctx.weak_probs, {p['keep']!r})\n"
                "    epochs = ctx.recipe.epochs * ctx.n_train / len(idx)\n"
                f"    loss = confidence.aux_loss({p['aux_weight']!r}, {p['warmup']!r})\n"
                "    return ctx.fit(ctx.weak_probs, idx=idx, loss=loss, epochs=epochs).predict_proba()\n"
            )
        if self.family == "regularised":
            return head + (
                "def run(ctx):\n"
                f"    student = ctx.fit(ctx.weak_probs, weight_decay={p['weight_decay']!r}, epochs={p['epochs']!r})\n"
                "    return student.predict_proba()\n"
            )
        raise ValueError(f"no method template for {self.family}")


REFERENCE = ("vanilla", "confidence", "filtering", "bootstrap")


def _ideas(family: str, *grid: list[Param]) -> list[Idea]:
    return [Idea(family, tuple(params)) for params in grid]


IDEAS: dict[str, list[Idea]] = {
    "vanilla": _ideas("vanilla", [("epochs", 5)], [("hard", True)], [("epochs", 10)], [("epochs", 40)]),
    "confidence": _ideas(
        "confidence",
        [("aux_weight", 0.5), ("warmup", 0.1)],
        [("aux_weight", 1.0), ("warmup", 0.2)],
        [("aux_weight", 0.25), ("warmup", 0.4)],
        [("aux_weight", 0.75), ("warmup", 0.5)],
    ),
    "filtering": _ideas(
        "filtering", [("keep", 0.7)], [("keep", 0.3)], [("keep", 0.85)], [("keep", 0.5), ("hard", False)]
    ),
    "bootstrap": _ideas(
        "bootstrap",
        [("rounds", 1), ("trust", 0.6)],
        [("rounds", 3), ("trust", 0.9)],
        [("rounds", 2), ("trust", 0.5)],
    ),
    "filtered_confidence": _ideas(
        "filtered_confidence",
        [("keep", 0.7), ("aux_weight", 0.5), ("warmup", 0.2)],
        [("keep", 0.5), ("aux_weight", 0.75), ("warmup", 0.2)],
        [("keep", 0.85), ("aux_weight", 0.25), ("warmup", 0.1)],
    ),
    "regularised": _ideas(
        "regularised",
        [("weight_decay", 0.01), ("epochs", 5)],
        [("weight_decay", 0.1), ("epochs", 10)],
        [("weight_decay", 0.001), ("epochs", 8)],
    ),
}

KEYWORDS: tuple[tuple[str, str], ...] = (
    ("combin", "filtered_confidence"),
    ("regularis", "regularised"),
    ("regulariz", "regularised"),
    ("weight decay", "regularised"),
    ("confidence loss", "confidence"),
    ("auxiliary", "confidence"),
    ("filter", "filtering"),
    ("bootstrap", "bootstrap"),
    ("self-train", "bootstrap"),
    ("vanilla", "vanilla"),
)


def family_named(text: str) -> str | None:
    """The family a direction or a supervisor message asks for, if any."""
    lowered = text.lower()
    return next((family for word, family in KEYWORDS if word in lowered), None)


def ordered_ideas(agent: str, direction: str, prefer: str | None = None) -> list[Idea]:
    """Every idea, in the order this agent tries them: the preferred family first, the rest interleaved.

    Agents without a matching direction start at a family picked from their name, so a team spreads out.
    """
    families = list(IDEAS)
    first = prefer or family_named(direction)
    if first is None:
        first = families[zlib.crc32(agent.encode()) % len(families)]
    rest = [f for f in families if f != first]
    shift = zlib.crc32(agent.encode()) % len(rest)
    rest = rest[shift:] + rest[:shift]
    interleaved = [i for group in zip_longest(*(IDEAS[f] for f in rest)) for i in group if i is not None]
    return IDEAS[first] + interleaved
