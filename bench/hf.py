"""HF training benchmark: aar's fit against the loop a practitioner would write, side by side in one run.

CPU (default): a 4-layer GPT-2-shaped random-init classifier, 256 rows with
lognormal lengths (mean about 69 tokens, at most 256), one epoch at batch 16,
the same 16 optimizer steps on each side:
  aar        ``HFLearner.fit`` (tokenize once, length-bucketed batches padded per batch)
  bucketed   the practitioner's loop: tokenizer, rows grouped by length in mega-batches
             (as HF Trainer's ``group_by_length``), padded per batch by DataCollatorWithPadding, AdamW
  split-pad  the loop aar had before: every row padded to the split's longest (for reference)
Both time checkpoint loading, tokenizing and training; the sides alternate and
the fastest repeat of each counts (other work on a shared machine only ever
adds time). Targets: aar's real-token share >= 0.85; last line: wall-time ratio
aar / bucketed, target <= 1.1.

CUDA (``--cuda``): Qwen-shaped random-init models built from config (no
download), about 0.5B and 4B parameters, bf16 autocast, rows of 512 tokens: aar's
fit against a plain HF eager loop; tokens/s, MFU and peak memory per shape.
``--eval`` adds a full ``aar eval --task jsonl`` over 5 seeds (0.5B weak, 1.5B
strong, generated rows) and reports its wall time. ``--shapes tiny`` runs the same
code on the CPU in seconds, to check it.

Usage: python bench/hf.py [--repeats N] | --cuda [--shapes 0.5b,4b] [--eval] [--rows N]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402

ALPHABET = list("abcdefghijklmnopqrstuvwxyz ")
QWEN_SHAPES: dict[str, dict[str, Any]] = {
    # Qwen1.5-0.5B / Qwen2-0.5B-like, Qwen2-1.5B-like and Qwen3-4B-like shapes (random init).
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    },
    "0.5b": {
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
    },
    "1.5b": {
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
    },
    "4b": {
        "hidden_size": 2560,
        "intermediate_size": 9728,
        "num_hidden_layers": 36,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
    },
}
QWEN_VOCAB = 151_936


def byte_tokenizer(family: str = "gpt2") -> Any:
    """A byte-level BPE tokenizer with no merges: one token per character, so a row's length is its token count."""
    from transformers import GPT2Tokenizer, Qwen2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    vocab["<|endoftext|>"] = len(vocab)
    cls = Qwen2Tokenizer if family == "qwen2" else GPT2Tokenizer
    return cls(vocab=vocab, merges=[])


def rows(n: int, *, mean: float, cap: int, seed: int = 0, fixed: bool = False) -> tuple[list[str], np.ndarray]:
    """``n`` texts of lognormal length (mean ``mean`` tokens, at most ``cap``), or all ``cap`` long; random 0/1 labels."""
    rng = np.random.default_rng(seed)
    sigma = 0.8
    lengths = (
        np.full(n, cap)
        if fixed
        else np.clip(rng.lognormal(math.log(mean) - sigma**2 / 2, sigma, n), 4, cap).astype(int)
    )
    texts = ["".join(rng.choice(ALPHABET, size=int(k))) for k in lengths]
    return texts, rng.integers(0, 2, n).astype(np.float64)


# ---------------------------------------------------------------- CPU


def gpt2_checkpoint(folder: Path) -> Path:
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification

    tok = byte_tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=256,
        n_embd=128,
        n_layer=4,
        n_head=4,
        bos_token_id=len(tok) - 1,
        eos_token_id=len(tok) - 1,
    )
    config.num_labels = 2  # the typed constructors take no num_labels; its setter sizes id2label
    GPT2ForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def aar_fit(checkpoint: Path, texts: list[str], y: np.ndarray, batch: int) -> tuple[float, float]:
    from evaluator.compute.hf import tokens
    from evaluator.compute.hf.learner import HFLearner, _tokenizer
    from evaluator.compute.hf.metrics import METER
    from evaluator.compute.tasks.base import Recipe

    tokens._memory.clear()
    _tokenizer.cache_clear()
    METER.reset()
    start = time.perf_counter()
    HFLearner(checkpoint, 256).fit(texts, y, recipe=Recipe(epochs=1, lr=1e-4, batch_size=batch), seed=0, device="cpu")
    seconds = time.perf_counter() - start
    s = METER.snapshot()
    return seconds, s.real_tokens / s.padded_tokens


def practitioner_fit(
    checkpoint: Path, texts: list[str], y: np.ndarray, batch: int, *, bucketed: bool
) -> tuple[float, float]:
    """What one writes by hand with transformers: group_by_length-style batches (or one padded split)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

    start = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(checkpoint)
    tok.pad_token = tok.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=2)
    model.config.pad_token_id = tok.pad_token_id
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    targets = torch.tensor(y, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    real = padded = 0
    model.train()
    if bucketed:
        enc = tok(texts, truncation=True, max_length=256)
        lengths = [len(ids) for ids in enc["input_ids"]]
        collate = DataCollatorWithPadding(tok)
        perm = torch.randperm(len(texts), generator=g).tolist()
        mega = batch * 50  # HF's LengthGroupedSampler
        order = [i for s in range(0, len(perm), mega) for i in sorted(perm[s : s + mega], key=lambda i: -lengths[i])]
        batches = [order[s : s + batch] for s in range(0, len(order), batch)]
        for b in batches:
            features = collate(
                [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i]} for i in b]
            )
            real += sum(lengths[i] for i in b)
            padded += features["input_ids"].numel()
            loss = torch.nn.functional.cross_entropy(model(**features).logits, targets[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    else:
        enc = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        shuffled = torch.randperm(len(texts), generator=g)
        for s in range(0, len(texts), batch):
            rows = shuffled[s : s + batch]
            real += int(enc["attention_mask"][rows].sum())
            padded += enc["input_ids"][rows].numel()
            loss = torch.nn.functional.cross_entropy(
                model(input_ids=enc["input_ids"][rows], attention_mask=enc["attention_mask"][rows]).logits,
                targets[rows],
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - start, real / padded


def cpu_bench(repeats: int) -> None:
    folder = gpt2_checkpoint(Path(tempfile.mkdtemp(prefix="aar-bench-hf-")) / "gpt2")
    texts, y = rows(256, mean=69, cap=256)
    print(
        f"256 rows, mean {np.mean([len(t) for t in texts]):.0f} tokens, max {max(len(t) for t in texts)}; batch 16, one epoch (16 steps) each"
    )
    aar_fit(folder, texts[:32], y[:32], 16)  # warm up: imports, first kernels
    times: dict[str, list[float]] = {"aar": [], "bucketed": [], "split-pad": []}
    cpu: dict[str, list[float]] = {name: [] for name in times}
    share: dict[str, float] = {}
    for r in range(repeats):
        for name in ("aar", "bucketed", "split-pad") if r % 2 == 0 else ("split-pad", "bucketed", "aar"):
            started = time.process_time()
            if name == "aar":
                seconds, share[name] = aar_fit(folder, texts, y, 16)
            else:
                seconds, share[name] = practitioner_fit(folder, texts, y, 16, bucketed=name == "bucketed")
            times[name].append(seconds)
            cpu[name].append(time.process_time() - started)
    for name, values in times.items():
        print(
            f"{name:<10} real-token share {share[name]:.3f}   wall {min(values):6.2f}s, CPU {min(cpu[name]):6.2f}s "
            f"(fastest of {len(values)}; wall {', '.join(f'{v:.2f}' for v in values)})"
        )
    print(f"aar real-token share {share['aar']:.3f} (target >= 0.85)")
    print(f"split-pad / aar wall time: {min(times['split-pad']) / min(times['aar']):.2f}x")
    print(
        f"CPU-time ratio aar / bucketed loop (steadier on a loaded machine): {min(cpu['aar']) / min(cpu['bucketed']):.3f}"
    )
    print(f"wall-time ratio aar / bucketed loop: {min(times['aar']) / min(times['bucketed']):.3f} (target <= 1.1)")


# ---------------------------------------------------------------- CUDA


def qwen_folder(root: Path, shape: str, *, weights: bool) -> Path:
    """A checkpoint folder (tokenizer + config, and random-init weights when ``weights``)."""
    import torch
    from transformers import AutoModelForSequenceClassification, Qwen3Config

    folder = root / f"qwen-{shape}"
    vocab = 512 if shape == "tiny" else QWEN_VOCAB
    config = Qwen3Config(vocab_size=vocab, max_position_embeddings=4096, **QWEN_SHAPES[shape])
    config.num_labels = 2  # the typed constructors take no num_labels; its setter sizes id2label
    config.save_pretrained(folder)
    byte_tokenizer("qwen2").save_pretrained(folder)
    if weights:
        torch.manual_seed(0)
        AutoModelForSequenceClassification.from_config(config).to(torch.bfloat16).save_pretrained(folder)
    return folder


def from_config_learner(folder: Path, device: str) -> Any:
    """aar's learner, with the model built from the folder's config (no multi-GB weights written to disk)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from evaluator.compute.hf.learner import HFLearner
    from evaluator.compute.hf.recipe import attention

    class FromConfig(HFLearner):
        def load_model(self, device: str, *, bf16: bool) -> Any:
            import torch

            config = AutoConfig.from_pretrained(self.checkpoint, num_labels=2)
            torch.manual_seed(0)
            with torch.device(device):
                model = AutoModelForSequenceClassification.from_config(
                    config, dtype=torch.float32, attn_implementation=attention(self.training, device, bf16)
                )
            model.config.pad_token_id = self.pad_id
            return model

    from aar.config import TrainingConfig

    return FromConfig(folder, 512, training=TrainingConfig(max_length=512))


def plain_eager_loop(
    folder: Path, texts: list[str], y: np.ndarray, batch: int, device: str, checkpointing: bool
) -> float:
    """A plain HF loop: eager attention, bf16 autocast, AdamW; returns seconds for the same steps."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(folder, num_labels=2)
    with torch.device(device):
        model = AutoModelForSequenceClassification.from_config(config, dtype=torch.float32, attn_implementation="eager")
    tok = byte_tokenizer("qwen2")
    model.config.pad_token_id = tok.pad_token_id
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    enc = tok(texts, padding=True, truncation=True, max_length=512, return_tensors="pt")
    targets = torch.tensor(y, dtype=torch.long)
    model.train()
    torch.cuda.synchronize() if device.startswith("cuda") else None
    start = time.perf_counter()
    for s in range(0, len(texts), batch):
        ids, mask = enc["input_ids"][s : s + batch].to(device), enc["attention_mask"][s : s + batch].to(device)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            logits = model(input_ids=ids, attention_mask=mask).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), targets[s : s + batch].to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    del model, opt
    return seconds


def cuda_bench(shapes: list[str], n: int, device: str, run_eval: bool) -> None:
    import torch

    from evaluator.compute.hf.metrics import METER
    from evaluator.compute.tasks.base import Recipe

    root = Path(tempfile.mkdtemp(prefix="aar-bench-hf-cuda-"))
    texts, y = rows(n, mean=512, cap=512, fixed=True)
    print(
        f"{n} rows of 512 tokens, bf16 autocast, device {device}"
        + (f" ({torch.cuda.get_device_name()})" if device.startswith("cuda") else "")
    )
    for shape in shapes:
        folder = qwen_folder(root, shape, weights=False)
        batch = 8 if shape == "4b" else 16
        learner = from_config_learner(folder, device)
        learner.fit(
            texts[: 2 * batch],
            y[: 2 * batch],
            recipe=Recipe(epochs=1, lr=1e-5, batch_size=batch),
            seed=0,
            device=device,
        )  # warm-up
        METER.reset()
        learner.fit(texts, y, recipe=Recipe(epochs=1, lr=1e-5, batch_size=batch), seed=0, device=device)
        s = METER.snapshot()
        params = s.model_flops / 6 / max(1, s.real_tokens)
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        plain = plain_eager_loop(folder, texts, y, batch, device, checkpointing=params >= 2.5e9)
        plain_mfu = (6 * params * s.real_tokens / plain / (s.peak_tflops * 1e12)) if s.peak_tflops else None
        mfu = f"{s.mfu:.1%}" if s.mfu is not None else "n/a (no peak for this device)"
        print(
            f"{shape:>5} ({params / 1e9:.2f}B non-embedding params): aar {s.tokens_per_s:,.0f} tok/s, MFU {mfu}, "
            f"peak {s.peak_memory_mb / 1024:.1f} GB ({s.memory_kind}); plain eager loop {s.real_tokens / plain:,.0f} tok/s"
            + (f", MFU {plain_mfu:.1%}" if plain_mfu is not None else "")
        )
        print(json.dumps({"shape": shape, **s.summary().model_dump()}))
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    if run_eval:
        eval_bench(
            root, device, weak="tiny" if device == "cpu" else "0.5b", strong="tiny" if device == "cpu" else "1.5b"
        )


def eval_bench(root: Path, device: str, *, weak: str, strong: str) -> None:
    """``aar eval --task jsonl`` over 5 seeds on generated rows: its wall time."""
    from evaluator.daemon.cli import main as aar_eval

    data = root / "data"
    data.mkdir()
    for name, n in (
        (("train_label", 2000), ("train_unlabel", 4000), ("test", 2000))
        if device != "cpu"
        else (("train_label", 40), ("train_unlabel", 60), ("test", 40))
    ):
        texts, y = rows(n, mean=200, cap=512, seed=len(name))
        (data / f"{name}.jsonl").write_text(
            "".join(json.dumps({"text": t, "label": int(v)}) + "\n" for t, v in zip(texts, y, strict=True))
        )
    weak_dir = qwen_folder(root / "w", weak, weights=True)
    strong_dir = qwen_folder(root / "s", strong, weights=True)
    start = time.perf_counter()
    code = aar_eval(
        [
            "--task",
            "jsonl",
            "--data-dir",
            str(data),
            "--weak-model",
            str(weak_dir),
            "--strong-model",
            str(strong_dir),
            "--seeds",
            "5",
            "--no-cache",
            "--device",
            device,
            "--training",
            "max_length=512",
        ]
    )
    print(
        f"aar eval --task jsonl, 5 seeds, {weak} weak / {strong} strong: exit {code}, wall {time.perf_counter() - start:.0f}s"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cuda", action="store_true", help="the Qwen-shaped bf16 figures (needs a GPU)")
    p.add_argument("--shapes", default="0.5b,4b", help="--cuda: comma-separated of " + ", ".join(QWEN_SHAPES))
    p.add_argument("--rows", type=int, default=256, help="--cuda: rows per fit")
    p.add_argument(
        "--eval", action="store_true", help="--cuda: also a 5-seed aar eval --task jsonl (0.5B weak, 1.5B strong)"
    )
    args = p.parse_args()
    if not args.cuda:
        cpu_bench(args.repeats)
        return
    shapes = args.shapes.split(",")
    device = "cpu" if shapes == ["tiny"] else "cuda"
    cuda_bench(shapes, args.rows if device != "cpu" else 32, device, args.eval)


if __name__ == "__main__":
    main()
