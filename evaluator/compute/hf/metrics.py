"""What a job's training did: examples/s, real tokens/s, padding share, peak memory and, on CUDA, MFU.

Every fit adds its counts to the process's ``METER``; the worker resets it when
a job starts and records ``METER.snapshot()`` with the job (a method re-run in a
sandbox prints its own snapshot into its predictions file, and the worker merges
it). No torch at import: the worker and ``aar eval`` read these numbers too.

MFU is model FLOPs per second over the device's peak dense bf16 FLOPs. Model
FLOPs per real token are 6 x parameters for full fine-tuning (forward 2,
backward 4) and about 4 x parameters with LoRA (no weight gradients of the
frozen base); parameters here leave out the input embedding (a lookup, not a matmul).
"""

from __future__ import annotations

import os
import resource
import threading
from typing import Any

from pydantic import BaseModel

from aar.eval_jobs import JobStats

PEAK_BF16_TFLOPS: dict[str, float] = {
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
}
"""Dense bf16 peak of each device family (vendor data sheets, SXM unless named); first match wins."""


def peak_tflops(device_name: str) -> float | None:
    """The table's peak for a CUDA device name such as ``NVIDIA H100 80GB HBM3``, or None."""
    for family, tflops in PEAK_BF16_TFLOPS.items():
        if family.lower() in device_name.lower():
            return tflops
    return None


class TrainingStats(BaseModel):
    """A job's training throughput, as recorded with the job and printed by ``aar eval --format json``."""

    examples: int = 0
    """Training examples processed (each epoch counts its rows again)."""
    real_tokens: int = 0
    """Tokens of the rows themselves."""
    padded_tokens: int = 0
    """Tokens computed on, padding included."""
    truncated_rows: int = 0
    """Rows cut to max_length, summed over every fit and prediction of the job (a split used twice counts twice)."""
    seconds: float = 0.0
    """Wall time inside fits (the device synchronised at the end of each)."""
    model_flops: float = 0.0
    """6 (full) or 4 (LoRA) x parameters x real tokens, summed over fits."""
    peak_memory_mb: float = 0.0
    """CUDA max allocated, or the process's resident set on the CPU."""
    memory_kind: str = ""
    """``cuda`` or ``rss``."""
    device_name: str = ""
    peak_tflops: float | None = None
    """The MFU denominator (the table's, or ``training.peak_tflops``)."""

    @property
    def examples_per_s(self) -> float:
        return self.examples / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.real_tokens / self.seconds if self.seconds else 0.0

    @property
    def padding_share(self) -> float:
        return 1.0 - self.real_tokens / self.padded_tokens if self.padded_tokens else 0.0

    @property
    def mfu(self) -> float | None:
        if not self.peak_tflops or not self.seconds:
            return None
        return self.model_flops / self.seconds / (self.peak_tflops * 1e12)

    def summary(self) -> JobStats:
        """The derived figures a person reads (and the raw counts they come from), as a job row keeps them."""
        return JobStats(
            examples_per_s=round(self.examples_per_s, 2),
            tokens_per_s=round(self.tokens_per_s, 1),
            padding_share=round(self.padding_share, 4),
            peak_memory_mb=round(self.peak_memory_mb, 1),
            memory_kind=self.memory_kind,
            mfu=None if self.mfu is None else round(self.mfu, 4),
            device_name=self.device_name,
            **self.model_dump(exclude={"peak_memory_mb", "memory_kind", "device_name"}),
        )


def rss_mb() -> float:
    """This process's resident set now (Linux ``/proc``), else its lifetime peak."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Meter:
    """Thread-safe sums of the fits of the job in hand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = TrainingStats()

    def reset(self) -> None:
        with self._lock:
            self._stats = TrainingStats()

    def add(self, **counts: Any) -> None:
        """Add counts (``examples``, ``real_tokens``, ...); ``peak_memory_mb`` keeps the max; names overwrite."""
        with self._lock:
            s = self._stats
            for key, value in counts.items():
                if key == "peak_memory_mb":
                    s.peak_memory_mb = max(s.peak_memory_mb, float(value))
                elif key in ("memory_kind", "device_name", "peak_tflops"):
                    setattr(s, key, value)
                else:
                    setattr(s, key, getattr(s, key) + value)

    def merge(self, stats: dict[str, Any]) -> None:
        """Fold in another process's snapshot (a method re-run in a sandbox)."""
        other = TrainingStats.model_validate({k: v for k, v in stats.items() if k in TrainingStats.model_fields})
        self.add(**other.model_dump(exclude_defaults=True))

    def snapshot(self) -> TrainingStats:
        with self._lock:
            return self._stats.model_copy()


METER = Meter()
"""The process's meter (the worker runs one job at a time)."""
