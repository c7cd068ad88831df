"""``HFLearner``: fine-tunes a local checkpoint as a two-class sequence classifier (a fresh head each fit).

Each split is tokenized once (``evaluator.compute.hf.tokens``); batches group rows of
similar length and pad to their own longest row (``evaluator.compute.hf.batching``);
on CUDA the forward pass runs under bf16 autocast with TF32 matmuls, fused
AdamW and SDPA (or flash-attention 2) attention; options chosen by the model's
size (``evaluator.compute.hf.recipe``) add gradient accumulation, checkpointing, LoRA
and ``torch.compile``. Decoder-only checkpoints (GPT-2, Llama, Qwen) get a pad
token so the classifier reads each row's last real token.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from aar.config import ModelTrainingConfig, TrainingConfig
from aar.errors import AarError
from evaluator.compute.hf import batching, tokens
from evaluator.compute.hf.metrics import METER, peak_tflops, rss_mb
from evaluator.compute.hf.recipe import HFRecipe, attention, choose, uses_bf16
from evaluator.compute.hf.tokens import Tokens
from evaluator.compute.tasks.base import Inputs, Learner, LossFn, MethodError, Progress, Recipe

log = logging.getLogger("aar.evaluator.compute.hf")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
PREDICT_BATCH = 64


def check_checkpoint(path: Path) -> None:
    """A folder ``save_pretrained`` wrote: a config.json and weights; else one line that says what is missing."""
    if not path.is_dir():
        raise AarError(f"{path} is not a folder: give a checkpoint folder written by save_pretrained")
    if not (path / "config.json").is_file() or not any((path / f).is_file() for f in WEIGHT_FILES):
        raise AarError(
            f"{path} holds no model: a checkpoint folder needs config.json and model.safetensors "
            "(or pytorch_model.bin), as save_pretrained writes them"
        )


@functools.lru_cache(maxsize=8)
def _tokenizer(checkpoint: Path) -> tuple[Any, str]:
    tok = tokens.load_tokenizer(checkpoint)
    return tok, tokens.tokenizer_key(checkpoint, tok)


class HFLearner(Learner):
    def __init__(
        self,
        checkpoint: Path,
        max_length: int,
        *,
        options: ModelTrainingConfig | None = None,
        training: TrainingConfig | None = None,
        cache: Path | None = None,
    ) -> None:
        self.checkpoint = Path(checkpoint)
        self.max_length = max_length
        self.options = options or ModelTrainingConfig()
        self.training = training or TrainingConfig(max_length=max_length)
        self.cache = cache
        """Folder of tokenized splits on disk (None: this process's memory only)."""

    # ------------------------------------------------------------ data

    def tokens(self, x: Inputs, name: str = "split") -> Tokens:
        tok, key = _tokenizer(self.checkpoint)
        found = tokens.tokenize(tok, key, list(x), self.max_length, folder=self.cache, name=name)
        METER.add(truncated_rows=found.truncated)
        return found

    @property
    def pad_id(self) -> int:
        return int(_tokenizer(self.checkpoint)[0].pad_token_id)

    def _forward(self, model: Any, toks: Tokens, device: str) -> Any:
        """``forward(idx, hidden)``: the logits of rows ``idx``, and their pooled last hidden states when asked."""
        import torch

        pad = self.pad_id

        def forward(idx: torch.Tensor, hidden: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
            ids, mask = toks.pad(idx.numpy(), pad)
            attention = torch.from_numpy(mask).to(device, non_blocking=True)
            out = model(
                input_ids=torch.from_numpy(ids).to(device, non_blocking=True),
                attention_mask=attention,
                output_hidden_states=hidden,
            )
            logits: torch.Tensor = out.logits  # a transformers output, untyped
            return logits, (pooled(out.hidden_states[-1], attention) if hidden else None)

        return forward

    # ------------------------------------------------------------ model

    def load_model(self, device: str, *, bf16: bool) -> Any:
        """A fresh two-class classifier from the checkpoint, with its pad token id set."""
        from transformers import AutoModelForSequenceClassification

        check_checkpoint(self.checkpoint)
        tok, _ = _tokenizer(self.checkpoint)
        impl = attention(self.training, device, bf16)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                self.checkpoint, num_labels=2, attn_implementation=impl
            )
        except (ValueError, ImportError) as exc:
            if impl == "eager":
                raise AarError(f"{self.checkpoint}: cannot load the model ({str(exc).splitlines()[0][:200]})") from None
            log.info("%s: %s attention is not available (%s); using eager", self.checkpoint.name, impl, exc)
            model = AutoModelForSequenceClassification.from_pretrained(
                self.checkpoint, num_labels=2, attn_implementation="eager"
            )
        except OSError as exc:
            raise AarError(f"{self.checkpoint}: cannot load the model ({str(exc).splitlines()[0][:200]})") from None
        model.config.pad_token_id = tok.pad_token_id
        return model.float().to(device)

    def _prepare(self, model: Any, recipe: HFRecipe, device: str, *, fresh: bool = True) -> Any:
        """TF32, checkpointing, LoRA and compilation as ``recipe`` says (a warm start is compiled only: the rest it kept)."""
        import torch

        if device.startswith("cuda"):
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        if not fresh:
            return torch.compile(model, dynamic=True) if recipe.compile else model
        if recipe.grad_checkpointing:
            model.config.use_cache = False
            if hasattr(model, "activation_checkpointing_enable"):  # transformers 5 (the old name goes in v6)
                model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if recipe.lora:
            model = _with_lora(model, recipe)
        if recipe.compile:
            model = torch.compile(model, dynamic=True)
        return model

    # ------------------------------------------------------------ Learner

    def fit(
        self,
        x: Inputs,
        targets: np.ndarray,
        *,
        recipe: Recipe,
        seed: int,
        device: str,
        loss: LossFn | None = None,
        weights: np.ndarray | None = None,
        progress: Progress | None = None,
        columns: dict[str, np.ndarray] | None = None,
        hooks: Any = None,
        init: Any = None,
    ) -> Any:
        import copy

        import torch

        from evaluator.compute.training import Batching, fit_loop

        torch.manual_seed(seed)
        toks = self.tokens(x, "train")
        if init is not None:  # warm start: a copy of the trained model, already prepared (LoRA, checkpointing)
            model = copy.deepcopy(getattr(init, "_orig_mod", init))
        else:
            model = self.load_model(device, bf16=uses_bf16(self.training, device))
        params = sum(p.numel() for p in model.parameters())
        # Model FLOPs count matmul weights: the input embedding is a lookup.
        flop_params = params - model.get_input_embeddings().weight.numel()
        hf = choose(self.options, self.training, params, device)
        model = self._prepare(model, hf, device, fresh=init is None)
        lengths = toks.lengths
        bs = max(1, min(recipe.batch_size, len(lengths)))
        counts = {"examples": 0, "real_tokens": 0, "padded_tokens": 0}

        memory = _MemoryWatch(device)

        def on_step(chunks: list[np.ndarray]) -> None:
            memory.sample()
            for c in chunks:
                counts["examples"] += len(c)
                counts["real_tokens"] += int(lengths[c].sum())
                counts["padded_tokens"] += len(c) * int(lengths[c].max())

        plan = functools.partial(_plan, lengths=lengths, batch_size=bs, seed=seed, max_tokens=hf.max_tokens_per_batch)
        start = time.perf_counter()
        fit_loop(
            model,
            self._forward(model, toks, device),
            targets,
            recipe=recipe,
            seed=seed,
            device=device,
            loss=loss,
            weights=weights,
            columns=columns,
            progress=progress,
            hooks=hooks,
            batching=Batching(
                plan=plan,
                lengths=lengths,
                micro_batch=max(1, -(-bs // hf.grad_accum)) if hf.grad_accum > 1 else 0,
                autocast=torch.bfloat16 if hf.bf16 else None,
                fused=hf.fused_adamw,
                on_step=on_step,
                log=lambda line: log.warning("%s: %s", self.checkpoint.name, line),
            ),
        )
        seconds = memory.done(start)
        flops_per_token = (4 if hf.lora else 6) * flop_params
        METER.add(
            **counts,
            seconds=seconds,
            model_flops=float(flops_per_token * counts["real_tokens"]),
            **memory.fields(self.training),
        )
        model.aar_bf16 = hf.bf16  # predictions run in the precision the model trained in
        return model

    def predict_proba(self, model: Any, x: Inputs, *, device: str) -> np.ndarray:
        import torch

        logits = self.logits(model, x, device=device)
        return torch.softmax(torch.from_numpy(logits), dim=-1)[:, 1].numpy().astype(np.float64)

    def logits(self, model: Any, x: Inputs, *, device: str) -> np.ndarray:
        import torch

        toks = self.tokens(x, "predict")
        forward = self._forward(model, toks, device)

        def rows(idx: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = forward(idx)[0]
            return out

        return self._infer(model, toks, rows, device)

    def embed(self, model: Any, x: Inputs, *, device: str, layer: int = -1) -> np.ndarray:
        """Mean-pooled hidden states of layer ``layer`` over each row's real tokens: of a trained student,
        or (``model=None``) of the frozen strong checkpoint, loaded once per process without a head."""
        import torch

        toks = self.tokens(x, "embed")
        net = self._backbone(device) if model is None else model
        layers = int(net.config.num_hidden_layers) + 1  # the embeddings' output, then each block's
        if not -layers <= layer < layers:
            raise MethodError(
                f"layer {layer} is out of range: {self.checkpoint.name} has {layers} hidden states, layers {-layers}..{layers - 1}"
            )
        pad = self.pad_id

        def rows(idx: torch.Tensor) -> torch.Tensor:
            ids, mask = toks.pad(idx.numpy(), pad)
            attention = torch.from_numpy(mask).to(device)
            # The backbone's last layer needs no list of every layer's (a classifier's output has no last_hidden_state).
            last = model is None and layer in (-1, layers - 1)
            out = net(
                input_ids=torch.from_numpy(ids).to(device), attention_mask=attention, output_hidden_states=not last
            )
            states: torch.Tensor = pooled(out.last_hidden_state if last else out.hidden_states[layer], attention)
            return states

        return self._infer(net, toks, rows, device)

    def zero_shot(self, texts: list[str], template: str, label_words: list[str], *, device: str) -> np.ndarray:
        """Sum of the log-probabilities of each label word's tokens after ``template.format(x=text)``,
        under the checkpoint as a causal LM (teacher-forced, one forward pass per text and word)."""
        import torch

        if not label_words:
            raise MethodError("zero_shot needs at least one label word")
        if "{x}" not in template:
            raise MethodError(f"the zero_shot template must contain {{x}} where the input goes; got {template[:60]!r}")
        lm = self._causal_lm(device)
        tok, _ = _tokenizer(self.checkpoint)
        words = [tok(w, add_special_tokens=False)["input_ids"] for w in label_words]
        if any(not ids for ids in words):
            raise MethodError(f"a label word tokenizes to nothing: {label_words}")
        out = np.zeros((len(texts), len(words)), dtype=np.float64)
        with torch.no_grad():
            for row, text in enumerate(texts):
                prompt = tok(template.format(x=text), add_special_tokens=True)["input_ids"]
                prompt = prompt[-max(1, self.max_length - max(len(w) for w in words)) :]
                for col, ids in enumerate(words):
                    seq = torch.tensor([prompt + ids], device=device)
                    logp = torch.log_softmax(lm(input_ids=seq).logits[0, :-1].float(), dim=-1)
                    targets = seq[0, len(prompt) :]
                    out[row, col] = float(logp[len(prompt) - 1 :, :].gather(1, targets[:, None]).sum())
        return out

    @functools.cache  # noqa: B019 -- one frozen language model per learner, for the life of the process
    def _causal_lm(self, device: str) -> Any:
        from transformers import AutoConfig, AutoModelForCausalLM

        check_checkpoint(self.checkpoint)
        config = AutoConfig.from_pretrained(self.checkpoint)
        if getattr(config, "is_encoder_decoder", False) or not _is_causal(config):
            raise MethodError(
                f"zero_shot needs a causal-LM (decoder) checkpoint; {self.checkpoint.name} is a {config.model_type} "
                "encoder: probe ctx.embed(x) features instead"
            )
        try:
            lm = AutoModelForCausalLM.from_pretrained(self.checkpoint, attn_implementation="eager")
        except (OSError, ValueError) as exc:
            raise AarError(f"{self.checkpoint}: cannot load the model ({str(exc).splitlines()[0][:200]})") from None
        return lm.float().to(device).eval()

    @functools.cache  # noqa: B019 -- one frozen backbone per learner, for the life of the process
    def _backbone(self, device: str) -> Any:
        from transformers import AutoModel

        check_checkpoint(self.checkpoint)
        bf16 = uses_bf16(self.training, device)
        try:
            net = AutoModel.from_pretrained(self.checkpoint, attn_implementation=attention(self.training, device, bf16))
        except (ValueError, ImportError):
            net = AutoModel.from_pretrained(self.checkpoint, attn_implementation="eager")
        except OSError as exc:
            raise AarError(f"{self.checkpoint}: cannot load the model ({str(exc).splitlines()[0][:200]})") from None
        net.aar_bf16 = bf16
        return net.float().to(device).eval()

    def _infer(self, model: Any, toks: Tokens, rows: Any, device: str) -> np.ndarray:
        """``rows(idx)`` for every row, in length-bucketed batches under the token budget; a batch that runs
        out of memory is halved (and every later batch capped)."""
        import contextlib

        import torch

        budget = self.training.max_tokens_per_batch
        bf16 = bool(getattr(model, "aar_bf16", False))
        autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        lengths = toks.lengths
        cap = 1 << 62
        out: np.ndarray | None = None

        def run(idx: np.ndarray) -> None:
            nonlocal cap, out
            padded = len(idx) * int(lengths[idx].max())
            if len(idx) > 1 and padded > cap:
                run(idx[: len(idx) // 2])
                run(idx[len(idx) // 2 :])
                return
            try:
                values = rows(torch.as_tensor(idx, dtype=torch.long)).float().cpu().numpy()
            except torch.OutOfMemoryError:
                if len(idx) == 1:
                    raise
                cap = padded // 2
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
                log.warning("%s: out of memory on %d rows; batches halved", self.checkpoint.name, len(idx))
                run(idx)
                return
            if out is None:
                out = np.zeros((len(toks), values.shape[1]), dtype=np.float32)
            out[idx] = values

        model.eval()
        with torch.no_grad(), autocast:
            for idx in batching.predict_batches(lengths, PREDICT_BATCH, budget):
                run(idx)
        return out if out is not None else np.zeros((0, 2), dtype=np.float32)


def _is_causal(config: Any) -> bool:
    """Whether this is a decoder checkpoint: transformers gives it a causal-LM head, and it is not a
    masked-LM encoder (BERT, RoBERTa) unless its config says it was trained as a decoder."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = config.model_type
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and (
        kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES or bool(getattr(config, "is_decoder", False))
    )


def pooled(hidden: Any, mask: Any) -> Any:
    """The mean of ``hidden`` ``[B, T, H]`` over each row's real tokens (``mask`` ``[B, T]``): ``[B, H]``, float32."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return ((hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1)).float()


def _plan(epoch: int, *, lengths: np.ndarray, batch_size: int, seed: int, max_tokens: int) -> list[np.ndarray]:
    return batching.epoch_batches(lengths, batch_size, seed=seed, epoch=epoch, max_tokens=max_tokens)


def _with_lora(model: Any, recipe: HFRecipe) -> Any:
    try:
        from peft import LoraConfig, TaskType, get_peft_model
    except ImportError:
        raise AarError("training.*.lora needs peft: pip install 'aar[hf]'") from None
    targets: str | list[str] = "all-linear" if recipe.lora_targets == ["all-linear"] else recipe.lora_targets
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS, r=recipe.lora_rank, lora_alpha=recipe.lora_alpha, target_modules=targets
    )
    return get_peft_model(model, config)


class _MemoryWatch:
    """Peak memory of one fit: CUDA's max allocated, or the largest resident set seen at a step."""

    def __init__(self, device: str) -> None:
        import torch

        self.cuda = device.startswith("cuda") and torch.cuda.is_available()
        self.device = device
        self.peak = rss_mb()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(device)

    def sample(self) -> None:
        if not self.cuda:
            self.peak = max(self.peak, rss_mb())

    def done(self, start: float) -> float:
        import torch

        if self.cuda:
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        return time.perf_counter() - start

    def fields(self, training: TrainingConfig) -> dict[str, Any]:
        import torch

        if not self.cuda:
            return {"peak_memory_mb": self.peak, "memory_kind": "rss", "device_name": "cpu"}
        name = torch.cuda.get_device_name(self.device)
        return {
            "peak_memory_mb": self.peak,
            "memory_kind": "cuda",
            "device_name": name,
            "peak_tflops": training.peak_tflops or peak_tflops(name),
        }
