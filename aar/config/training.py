"""``[training]``: how the jsonl task's Hugging Face models are trained."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aar.config.base import Section


class ModelTrainingConfig(Section):
    """Recipe options of one model (weak or strong); unset keys take defaults chosen by the model's size."""

    grad_accum: Annotated[int, Field(ge=1, le=1024)] | None = None
    """Micro-batches per optimizer step (the batch is split, the effective batch is the same); default 1."""
    grad_checkpointing: bool | None = None
    """Recompute activations in the backward pass; default on from 2.5B parameters."""
    lora: bool | None = None
    """Train LoRA adapters (and the head) instead of every weight; default on from 6B parameters."""
    lora_rank: Annotated[int, Field(ge=1, le=1024)] = 16
    """LoRA rank r."""
    lora_alpha: Annotated[int, Field(ge=1)] = 32
    """LoRA scaling alpha (the update is scaled by alpha / r)."""
    lora_targets: list[str] = ["all-linear"]
    """Module names LoRA adapts, e.g. ``["q_proj", "v_proj"]``; ``["all-linear"]`` adapts every linear layer."""
    compile: bool | None = None
    """``torch.compile`` the model (dynamic shapes); default off."""


class TrainingConfig(Section):
    """How the jsonl task's Hugging Face models are trained."""

    max_length: Annotated[int, Field(ge=8, le=131_072)] = 256
    """Tokens per row; longer rows are truncated (and counted in the job's log)."""
    max_tokens_per_batch: Annotated[int, Field(ge=0)] = 0
    """Cut batches by padded tokens (rows x longest row) instead of rows; 0 uses the recipe's batch size."""
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    """``auto``: bf16 autocast on CUDA (fp32 weights and loss), fp32 on the CPU."""
    attention: Literal["auto", "sdpa", "flash_attention_2", "eager"] = "auto"
    """``auto``: flash-attention 2 when installed on CUDA, else SDPA."""
    peak_tflops: Annotated[float, Field(ge=0)] = 0.0
    """The device's dense bf16 peak for the MFU estimate; 0 looks it up (A100, H100, H200, L40S)."""
    weak: ModelTrainingConfig = ModelTrainingConfig()
    strong: ModelTrainingConfig = ModelTrainingConfig()
