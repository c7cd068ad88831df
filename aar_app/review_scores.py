"""A submission's scores as a reviewer reads them: moved to the kernel (``aar.review``) so that the TUI's
review desk reads them too; the names stay importable from here."""

from __future__ import annotations

from aar.review import Reviewed, Score, Scores, TransferScore, VsVanilla, scores_by_submission

__all__ = ["Reviewed", "Score", "Scores", "TransferScore", "VsVanilla", "scores_by_submission"]
