"""The reference method a submitted source is closest to: every reference method's own source, edited as an
agent would edit a copy (comments, indentation, one changed line), is matched back to it."""

from __future__ import annotations

import pytest

from aar.reference_methods import closest_reference, reference_source, reference_sources
from evaluator.compute.methods import REFERENCE_METHODS


def test_the_sources_are_the_evaluator_s_reference_methods() -> None:
    assert sorted(reference_sources()) == sorted(REFERENCE_METHODS)
    assert "def run(ctx" in reference_source("vanilla")
    with pytest.raises(KeyError, match="'nope' is not a reference method"):
        reference_source("nope")


@pytest.mark.parametrize("name", REFERENCE_METHODS)
def test_an_edited_copy_is_matched_to_its_reference(name: str) -> None:
    lines = reference_source(name).splitlines()
    body = [i for i, line in enumerate(lines) if line.startswith("    ") and line.strip()]
    edited = [
        f"# my own idea, honest\n{line}  # tuned" if i == body[len(body) // 2] else line for i, line in enumerate(lines)
    ]
    edited = [line.replace("    ", "  ", 1) for line in edited]  # re-indented
    found = closest_reference("\n".join(edited) + "\n\ndef helper(x):\n    return x * 2\n")
    assert found is not None and found.name == name
    assert 0.6 < found.similarity < 1.0
    assert closest_reference(reference_source(name)) == found.model_copy(update={"similarity": 1.0}), (
        "the source itself is its own reference, 100% alike"
    )


def test_a_source_unlike_any_still_names_one_with_a_low_similarity() -> None:
    found = closest_reference("def run(ctx):\n    return zebra(ctx) ** 17\n")
    assert found is not None and found.name in REFERENCE_METHODS and found.similarity < 0.2
