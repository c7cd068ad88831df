"""A verified method's outputs, read back for the daemon's checks: its 0/1 feedback predictions per seed.

The worker keeps each seed's predictions under ``evaluator/daemon/verify/<submission>/``;
the daemon judges them like prediction files (``submissions.output_flags``)
and compares later submissions with them. Pure Python: it runs in the daemon.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aar.store import SubmissionRow
from evaluator.daemon.runfiles import RunFiles
from evaluator.daemon.submissions import Output

IGNORES_LABELS = "ignores_labels"
"""On some seed, the canary's outputs are the scored run's, within a tolerance (``canary``)."""
SEED_INVARIANT = "seed_invariant"
"""Every seed gave the same outputs, within a tolerance (``canary``)."""


def method_outputs(files: RunFiles, submission_id: int) -> list[list[int]]:
    """Each verified seed's feedback predictions of a method, thresholded at 0.5 (none if not verified)."""
    folder = files.verify(submission_id)
    if not folder.is_dir():
        return []
    outputs = []
    for path in sorted(folder.glob("seed*.json")):
        try:
            feedback = json.loads(path.read_text())["feedback"]
        except (ValueError, KeyError, OSError):
            continue
        outputs.append([int(float(p) > 0.5) for p in feedback])
    return outputs


def earlier_method_outputs(files: RunFiles, earlier: list[SubmissionRow]) -> list[Output]:
    """The outputs of every verified method among ``earlier``, one per seed."""
    return [
        Output(s.id, s.agent, s.kind, o)
        for s in earlier
        if s.kind == "method" and s.status == "scored"
        for o in method_outputs(files, s.id)
    ]


def behaves_like_a_fixed_list(outputs: Sequence[Sequence[int]], verification_flags: Sequence[str]) -> bool:
    """True when a verified method answers the same whatever it is given: its verification (``canary``) flagged it
    ``seed_invariant`` or ``ignores_labels``, or its 0/1 feedback outputs are identical on every seed.
    Only such a method's closeness to earlier outputs makes it a probe (``submissions.output_flags``)."""
    if {SEED_INVARIANT, IGNORES_LABELS} & set(verification_flags):
        return True
    return len(outputs) > 1 and all(list(o) == list(outputs[0]) for o in outputs[1:])
