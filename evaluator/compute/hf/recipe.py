"""The HF recipe of one fit: precision, attention kernel and the options chosen by model size.

A user's ``[training]`` keys win; unset ones follow the model's parameter count:
gradient checkpointing from 2.5B parameters (a full fine-tune of a 4B model then
fits one 80 GB GPU), LoRA from 6B (AdamW's fp32 state of a larger model does not).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from aar.config import ModelTrainingConfig, TrainingConfig

CHECKPOINTING_FROM = 2.5e9
"""Parameters from which gradient checkpointing is on by default."""
LORA_FROM = 6e9
"""Parameters from which LoRA is on by default."""


@dataclass(frozen=True)
class HFRecipe:
    grad_accum: int
    grad_checkpointing: bool
    lora: bool
    lora_rank: int
    lora_alpha: int
    lora_targets: list[str]
    compile: bool
    bf16: bool
    """Forward passes under bf16 autocast (fp32 master weights, fp32 loss)."""
    fused_adamw: bool
    max_tokens_per_batch: int


def uses_bf16(training: TrainingConfig, device: str) -> bool:
    """bf16 autocast where asked, or by default on CUDA."""
    return training.precision == "bf16" or (training.precision == "auto" and device.startswith("cuda"))


def choose(options: ModelTrainingConfig, training: TrainingConfig, params: int, device: str) -> HFRecipe:
    cuda = device.startswith("cuda")
    return HFRecipe(
        grad_accum=options.grad_accum or 1,
        grad_checkpointing=options.grad_checkpointing
        if options.grad_checkpointing is not None
        else params >= CHECKPOINTING_FROM,
        lora=options.lora if options.lora is not None else params >= LORA_FROM,
        lora_rank=options.lora_rank,
        lora_alpha=options.lora_alpha,
        lora_targets=list(options.lora_targets),
        compile=bool(options.compile),
        bf16=uses_bf16(training, device),
        fused_adamw=cuda,
        max_tokens_per_batch=training.max_tokens_per_batch,
    )


def attention(training: TrainingConfig, device: str, bf16: bool) -> str:
    """The ``attn_implementation`` to load with: flash-attention 2 where installed on CUDA in bf16, else SDPA."""
    if training.attention != "auto":
        return training.attention
    if device.startswith("cuda") and bf16 and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"
