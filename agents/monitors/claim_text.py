"""Reading the PGR and accuracy numbers a post states, however it spells them.

A post is prose written by an agent that may want a number to go unchecked,
so the reader does not depend on one phrasing:
- the text is normalised first: NFKC (full-width digits, ligatures), format
  characters dropped (zero-width joiners, soft hyphens, bidi marks), and
  look-alike letters of other scripts mapped to the Latin ones they imitate
  (Cyrillic ``Р`` in ``РGR``, Greek ``Α`` in ``ΑCCURACY``);
- a metric word takes the number nearest to it in its sentence, before or
  after it (``0.97 PGR``, ``PGR improved to 0.97``), each number claimed once;
- ``from X to Y`` (or ``X -> Y``) claims ``Y``: ``X`` is where it started;
- a decimal comma is a decimal point (``PGR 0,97``).

What is not a claim: numbers in code (fenced or inline), integers (seeds,
counts, dates: a score is written as a decimal or a percentage), parts of a
date, a version or a dotted chain, a parameter's value (``keep=0.7``,
``threshold 0.9``, ``seed 3``), a quantity with a unit (``0.5 epochs``), and a
number outside the metric's range.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Metric = Literal["pgr", "accuracy"]

CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "А": "A", "а": "a", "В": "B", "С": "C", "с": "c", "Е": "E", "е": "e", "Н": "H", "І": "I", "і": "i",
        "Ј": "J", "К": "K", "М": "M", "О": "O", "о": "o", "Р": "P", "р": "p", "Ѕ": "S", "ѕ": "s", "Т": "T",
        "Х": "X", "х": "x", "У": "Y", "у": "y", "Ԍ": "G", "ԁ": "d", "ԛ": "q", "ԝ": "w", "г": "r", "ѵ": "v",
        "Ѵ": "V", "ӏ": "l", "Ӏ": "l", "п": "n",
        # Greek
        "Α": "A", "α": "a", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
        "Ο": "O", "ο": "o", "Ρ": "P", "ρ": "p", "Τ": "T", "Υ": "Y", "υ": "u", "Χ": "X", "ν": "v", "ϲ": "c",
        "Ϲ": "C", "ɡ": "g", "ɑ": "a",
        # Armenian, Cherokee and others that pass for Latin letters
        "ս": "u", "օ": "o", "ց": "g", "Ꭱ": "R", "Ꮯ": "C", "Ꮲ": "P", "Ꮐ": "G", "Ꭺ": "A", "ℊ": "g",
    }
)  # fmt: skip
"""Letters of other scripts that look like the Latin ones of the metric names, mapped to those."""

_FENCED = re.compile(r"```.*?(?:```|$)|~~~.*?(?:~~~|$)", re.DOTALL)
_INLINE = re.compile(r"`[^`\n]*`")
_METRIC = re.compile(
    r"(?P<gap>\b(?:recover|close)(?:s|d|ed|ing|y)?\b(?P<inner>(?:[^.;!?\n]|\.\d){0,60}?)\bof\s+(?:the\s+)?(?:[\w-]+\s+){0,3}?gap\b)"
    r"|(?P<pgr>\bp[\s.\-_]{0,2}g[\s.\-_]{0,2}r\b\.?|\b(?:performance\s+)?gap\s+recover(?:ed|y)\b)"
    r"|(?P<acc>\b(?:accuracy|accuracies|acc)\b)",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<num>[-−]?(?:\d++(?:[.,]\d++)?+|[.,]\d++))(?![\w]|[.,]\d)\s*+(?P<pct>%|percent\b)?"
)
_FROM_TO = re.compile(
    r"\bfrom\s++(?P<first>[-−]?[\d.,]++\s*+%?)\s*+(?:to|->|→|=>)\s*+(?=[-−]?[.,\d])"
    r"|(?P<first2>(?<![\w.,])[-−]?(?:\d++(?:[.,]\d++)?+|[.,]\d++)\s*+%?)\s*+(?:->|→|=>)\s*+(?=[-−]?[.,\d])",
    re.IGNORECASE,
)
_DATE_OR_TIME = re.compile(r"(?<!\d)\d++[-/.:]\d++[-/.:]\d++|(?<!\d)\d{1,2}:\d{2}")
r"""Possessive runs and a lookbehind on every pattern here: an agent's post of 20,000 digits must cost
linear time (a backtracking ``\d*\d+`` took 16 s on one and held the daemon's loop, GIL and all)."""
_PARAMETER = re.compile(
    r"(?:\b(?!pgr\b|acc\b|accuracy\b)[a-z_][\w.]*\s*[=:]|"
    r"\b(?:seeds?|steps?|epochs?|lr|learning\s+rate|threshold|temperature|alpha|beta|lambda|weight|keep|ratio"
    r"|fraction|version|v|top|batch(?:\s+size)?|n|k)\s*[=:]?|#)\s*$",
    re.IGNORECASE,
)
_UNIT = re.compile(
    r"\s*(?:epochs?|steps?|seeds?|runs?|s|sec|seconds?|min|minutes?|h|hours?|days?|[kmgt]i?b|examples?|samples?"
    r"|tokens?|x|times)\b",
    re.IGNORECASE,
)
"""A unit after a number: ``0.5 epochs`` is a quantity of something else, not a score."""
_BOUNDARY = re.compile(r"[;!?\n]|\.(?:\s|$)")
MAX_GAP_WORDS = 6
MAX_GAP_CHARS = 80
"""Words that may stand between a metric word and its number ("PGR went up from the vanilla run to 0.97")."""


@dataclass(frozen=True)
class Claim:
    metric: Metric
    value: float
    tolerance: float
    """Half a unit of the last digit written: ``0.71`` stands for anything in [0.705, 0.715]."""
    text: str


def normalise(text: str) -> str:
    """``text`` as the checker reads it: NFKC, no format characters, look-alike letters mapped to Latin.

    Characters are replaced one for one where they are kept, so the result is short of ``text`` only by the
    dropped format characters; every later step works on this string alone.
    """
    folded = unicodedata.normalize("NFKC", text)
    kept = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    return kept.translate(CONFUSABLES)


def prose(text: str) -> str:
    """``text`` with its code blocks and inline code blanked out (same length, so offsets hold)."""
    blank = lambda m: " " * len(m.group(0))  # noqa: E731
    return _INLINE.sub(blank, _FENCED.sub(blank, text))


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _without_starting_points(text: str) -> str:
    """``text`` with the first number of every ``from X to Y`` / ``X -> Y`` blanked: the claim is ``Y``."""
    for match in reversed(list(_FROM_TO.finditer(text))):
        group = "first" if match.group("first") is not None else "first2"
        text = _blank(text, match.start(group), match.end(group))
    return text


def _without_dates(text: str) -> str:
    for match in reversed(list(_DATE_OR_TIME.finditer(text))):
        text = _blank(text, match.start(), match.end())
    return text


@dataclass(frozen=True)
class _Number:
    start: int
    end: int
    raw: str
    percent: bool

    def as_claim(self, metric: Metric, text: str) -> Claim | None:
        """The claim this number makes about ``metric``, or None when it cannot be one (an integer, out of range)."""
        raw = self.raw.replace("−", "-")
        sep = "," if "," in raw else "."
        if sep not in raw and not self.percent:
            return None  # an integer: a seed, a count, a step; scores are written as decimals or percentages
        whole, _, frac = raw.partition(sep)
        if sep == "," and whole.lstrip("-") not in ("", "0") and len(frac) == 3:
            return None  # 1,000: a thousands separator
        value = float(f"{whole if whole not in ('', '-') else whole + '0'}.{frac}" if frac else whole)
        tolerance = 0.5 * 10.0 ** -len(frac)
        if self.percent or abs(value) >= 10:  # "PGR 71.5": a percentage without its sign
            value, tolerance = value / 100, tolerance / 100
        low, high = (-2.0, 2.0) if metric == "pgr" else (0.0, 1.0)
        if not low <= value <= high:
            return None
        return Claim(metric, value, tolerance, text)


def _numbers(text: str) -> list[_Number]:
    return [_Number(m.start(), m.end(), m.group("num"), bool(m.group("pct"))) for m in _NUMBER.finditer(text)]


def _is_parameter(lead: str) -> bool:
    """Whether the text ``lead`` that runs up to a number names a parameter (``keep=``, ``threshold``, ``seed``)."""
    return _PARAMETER.search(lead[-30:]) is not None


def _gap(text: str, a: int, b: int) -> int | None:
    """Words between offsets ``a`` < ``b``; None when a sentence ends between them or they are too far apart."""
    if b - a > MAX_GAP_CHARS:
        return None
    between = text[a:b]
    if _BOUNDARY.search(between):
        return None
    words = len(re.findall(r"[^\W\d_]+", between))
    return words if words <= MAX_GAP_WORDS else None


@dataclass(frozen=True)
class _Pair:
    """A metric word and a number that may be its value."""

    rank: tuple[int, int, int]
    """(words between, 1 if the number comes first, characters between): the nearest pair wins."""
    mention: int
    number: int
    claim: Claim
    lead: str
    """The text that runs up to the number, where a parameter's name would be."""


CANDIDATES = 3
"""Numbers looked at on each side of a metric word: the nearest win, and a post of numbers stays cheap."""


def _candidates(text: str, mention: re.Match[str], numbers: list[_Number], starts: list[int]) -> list[int]:
    """Indexes of the numbers that may be ``mention``'s: the nearest few on each side within its sentence."""
    if mention.group("gap") is not None:
        inner = range(bisect.bisect_left(starts, mention.start("inner")), len(numbers))
        return [i for i in inner if numbers[i].end <= mention.end("inner") and numbers[i].percent][:1]
    out = []
    after = bisect.bisect_left(starts, mention.end())
    for i in range(after, min(after + CANDIDATES, len(numbers))):
        if _gap(text, mention.end(), numbers[i].start) is None:
            break
        out.append(i)
    for i in range(after - 1, max(after - 1 - CANDIDATES, -1), -1):
        if numbers[i].end > mention.start() or _gap(text, numbers[i].end, mention.start()) is None:
            break
        out.append(i)
    return out


def _pair(text: str, normal: str, metric: Metric, mention: re.Match[str], index: int, number: _Number) -> _Pair | None:
    start, end = min(mention.start(), number.start), max(mention.end(), number.end)
    claim = number.as_claim(metric, " ".join(normal[start:end].split()))
    if claim is None:
        return None
    if mention.group("gap") is not None:
        return _Pair((0, 0, 0), mention.start(), index, claim, "")
    if number.start >= mention.end():
        a, b, before = mention.end(), number.start, 0
        lead = text[a:b]  # "PGR with threshold 0.9": the number is the threshold's
    else:
        a, b, before = number.end, mention.start(), 1
        lead = text[max(0, number.start - 30) : number.start]  # "keep=0.7 gets PGR ..."
    words = _gap(text, a, b)
    return None if words is None else _Pair((words, before, b - a), mention.start(), index, claim, lead)


def parse_claims(text: str) -> list[Claim]:
    """Every PGR and accuracy number stated in ``text``'s prose, once each, in order of appearance.

    Each metric word is paired with its nearest number (fewest words between, then the number after it,
    then fewest characters), nearest pairs first, so every word and every number is used once; a number
    that is a parameter's value or a quantity with a unit is no one's.
    """
    normal = normalise(text)
    plain = _without_dates(_without_starting_points(prose(normal)))
    numbers = _numbers(plain)
    starts = [n.start for n in numbers]
    pairs: list[_Pair] = []
    for mention in _METRIC.finditer(plain):
        metric: Metric = "accuracy" if mention.group("acc") else "pgr"
        for index in _candidates(plain, mention, numbers, starts):
            pair = _pair(plain, normal, metric, mention, index, numbers[index])
            if pair is not None:
                pairs.append(pair)
    used_mentions: set[int] = set()
    used_numbers: set[int] = set()
    chosen: list[tuple[int, Claim]] = []
    for pair in sorted(pairs, key=lambda p: (p.rank, p.mention, p.number)):
        if pair.mention in used_mentions or pair.number in used_numbers:
            continue
        if _is_parameter(pair.lead) or _UNIT.match(plain, numbers[pair.number].end):
            continue
        used_mentions.add(pair.mention)
        used_numbers.add(pair.number)
        chosen.append((numbers[pair.number].start, pair.claim))
    found: dict[tuple[Metric, float], Claim] = {}
    for _, claim in sorted(chosen, key=lambda c: c[0]):
        found.setdefault((claim.metric, round(claim.value, 6)), claim)
    return list(found.values())
