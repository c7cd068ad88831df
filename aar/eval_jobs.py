"""What an evaluator job row holds: its spec (what the daemon asks for) and its training stats.

Both cross the store between the daemon and the spawned worker, so they are models here, in the
kernel, where ``JobRow`` reads them: the store keeps a job's kind in its own column and the rest
of the spec as JSON. A spec that does not validate reads back as :class:`UnreadableSpec` (one line
saying what is wrong) so the worker fails that job and goes on.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaselinesJob(_Spec):
    """Weak, ceiling and vanilla transfer over seeds (cached by task and seed)."""

    kind: Literal["baselines"] = "baselines"
    seeds: list[int] | None = None
    """Seeds to train; None means the run's (``evaluator.seeds``)."""
    cache: bool = True
    """False retrains everything (a benchmark, or a suspicion about the cache)."""


class PredictionsJob(_Spec):
    """A prediction file, scored on the feedback split against every seed's baselines."""

    kind: Literal["predictions"] = "predictions"
    predictions: list[Annotated[int, Field(ge=0, le=1)]]
    """One 0/1 per feedback input, in order."""
    submission_id: int | None = None
    """The submission this scores."""


class MethodJob(_Spec):
    """A submitted method, re-run over seeds in a fresh sandbox and scored outside it."""

    kind: Literal["method"] = "method"
    submission_id: int
    """The submission this verifies."""
    filename: str = "method.py"
    """The file name the agent gave (an unsafe one becomes ``method.py`` in the sandbox)."""
    source: str
    """Python source defining ``run(ctx)``."""
    seeds: list[int] | None = None
    """Seeds to run it over; None means the run's."""


class TransferJob(_Spec):
    """A verified method re-run on a transfer target (``[[transfer.targets]]``): that task's own bundle,
    baselines and canary, in a fresh sandbox, scored on the target's feedback split (never its final)."""

    kind: Literal["transfer"] = "transfer"
    submission_id: int
    """The method submission this transfers."""
    target: str
    """The target's name in the run's config."""
    filename: str = "method.py"
    source: str
    """Python source defining ``run(ctx)`` (the submission's, as verified)."""
    seeds: list[int] | None = None
    """Seeds to run it over; None means the target's (``seeds`` of its table)."""


class FinalJob(_Spec):
    """The record of ``aar report --final`` scoring the private split (done outside the worker)."""

    kind: Literal["final"] = "final"
    seeds: list[int]
    """Seeds the final scores are over."""


JobSpec = Annotated[BaselinesJob | PredictionsJob | MethodJob | TransferJob | FinalJob, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[JobSpec] = TypeAdapter(JobSpec)
JOB_KINDS = ("baselines", "predictions", "method", "transfer", "final")


class UnreadableSpec(BaseModel):
    """A spec in the store that is no :data:`JobSpec`; ``error`` says what to fix, in one line."""

    model_config = ConfigDict(frozen=True)

    kind: str
    """The job's kind column, as stored."""
    error: str
    """Where the spec went wrong and why (``seeds.0: Input should be a valid integer``)."""


def parse_spec(kind: str, body: object) -> JobSpec | UnreadableSpec:
    """A stored job spec (``kind`` from its column, ``body`` the JSON of the rest) as its model."""
    if kind not in JOB_KINDS:
        return UnreadableSpec(kind=kind, error=f"unknown job kind {kind!r} (known: {', '.join(JOB_KINDS)})")
    if not isinstance(body, dict):
        return UnreadableSpec(kind=kind, error=f"spec: a JSON object was expected, not {type(body).__name__}")
    try:
        return _ADAPTER.validate_python({**body, "kind": kind})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "spec"
        return UnreadableSpec(kind=kind, error=f"{where}: {first['msg']}")


def spec_body(spec: JobSpec) -> dict[str, object]:
    """What the store keeps of ``spec``: everything but the kind, which has its own column."""
    return spec.model_dump(mode="json", exclude={"kind"})


class JobStats(BaseModel):
    """A job's training throughput (``TrainingStats.summary`` in ``evaluator.compute.hf.metrics``).

    Every field defaults to nothing trained, which is what a job that has not finished, or that
    trained nothing (cached baselines), records.
    """

    model_config = ConfigDict(frozen=True)

    examples: int = 0
    """Training examples seen, over every fit of the job."""
    real_tokens: int = 0
    """Tokens that were not padding."""
    padded_tokens: int = 0
    """Tokens fed to the model, padding included."""
    truncated_rows: int = 0
    """Rows cut at ``max_length``."""
    seconds: float = 0.0
    """Wall seconds spent in fits."""
    model_flops: float = 0.0
    """Estimated model FLOPs of those fits."""
    peak_tflops: float | None = None
    """The MFU denominator (the device table's, or ``training.peak_tflops``)."""
    examples_per_s: float = 0.0
    tokens_per_s: float = 0.0
    """Real (unpadded) tokens per second."""
    padding_share: float = 0.0
    """The share of fed tokens that were padding (0..1)."""
    peak_memory_mb: float = 0.0
    """Peak device memory (CUDA) or resident set (CPU), in MiB."""
    memory_kind: str = ""
    """``cuda`` or ``rss``: what ``peak_memory_mb`` measured."""
    mfu: float | None = None
    """Model FLOPs utilisation on CUDA; None where no peak is known."""
    device_name: str = ""
