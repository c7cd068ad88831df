"""Tokenize each split once per (tokenizer, max_length), keep it in this process and on disk.

Rows are stored unpadded (one flat id array and offsets), so a batch pads only
to its own longest row. A row longer than ``max_length`` is truncated and
counted; the count is logged once per split and reported with the job. The
disk copy lives beside the baseline cache (``<cache>/<task key>/tokens-v1``),
keyed by the tokenizer files, the transformers version, ``max_length`` and the
texts, so a restarted worker or a second ``aar eval`` never tokenizes a split again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aar.errors import AarError

log = logging.getLogger("aar.evaluator.compute.hf")
TOKENIZER_FILES = ("*.json", "*.txt", "*.model", "*.tiktoken")
"""Files of a checkpoint that define its tokenizer (weights are not read to key the cache)."""
MEMORY_ENTRIES = 16
"""Tokenized splits kept in this process (a worker re-reads the same few splits job after job)."""
_memory: OrderedDict[str, Tokens] = OrderedDict()


@dataclass(frozen=True)
class Tokens:
    """A tokenized split: row ``i`` is ``flat[offsets[i]:offsets[i + 1]]``."""

    flat: np.ndarray
    offsets: np.ndarray
    truncated: int
    """Rows cut to ``max_length``."""

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def pad(self, idx: np.ndarray, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``(input_ids, attention_mask)`` of rows ``idx``, right-padded to the longest of them."""
        lengths = self.lengths[idx]
        width = int(lengths.max()) if len(idx) else 0
        ids = np.full((len(idx), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, (i, n) in enumerate(zip(idx, lengths, strict=True)):
            start = self.offsets[i]
            ids[row, :n] = self.flat[start : start + n]
            mask[row, :n] = 1
        return ids, mask


def load_tokenizer(checkpoint: Path) -> Any:
    """The checkpoint's tokenizer, with a pad token (its eos where it has none) so batches can pad."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        tok = AutoTokenizer.from_pretrained(checkpoint)
    except (OSError, ValueError, TypeError) as exc:
        raise AarError(f"{checkpoint}: cannot load its tokenizer ({str(exc).splitlines()[0][:200]})") from None
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise AarError(
                f"{checkpoint}: the tokenizer has neither a pad nor an eos token; "
                'set "pad_token" in its tokenizer_config.json'
            )
        tok.pad_token = tok.eos_token
    return tok


def tokenizer_key(checkpoint: Path, tok: Any) -> str:
    """What decides how text becomes ids: the tokenizer's files, its pad token and the transformers version."""
    import transformers

    h = hashlib.sha256(f"{transformers.__version__}\0{tok.pad_token}\0".encode())
    for pattern in TOKENIZER_FILES:
        for path in sorted(checkpoint.glob(pattern)):
            if path.name in ("config.json", "generation_config.json"):
                continue
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def texts_key(texts: list[str]) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def tokenize(
    tok: Any, tok_key: str, texts: list[str], max_length: int, *, folder: Path | None = None, name: str = "split"
) -> Tokens:
    """The split tokenized (from this process's memory, the disk cache, or now)."""
    key = f"{tok_key}-{max_length}-{texts_key(texts)}-{len(texts)}"
    found = _memory.get(key)
    if found is None and folder is not None:
        found = _read(folder / f"{key}.npz")
    if found is None:
        found = _encode(tok, texts, max_length)
        if folder is not None:
            _write(folder / f"{key}.npz", found)
    if key not in _memory and found.truncated:
        log.warning(
            "%s: %d of %d rows are longer than max_length %d tokens and were truncated",
            name,
            found.truncated,
            len(texts),
            max_length,
        )
    _memory[key] = found
    _memory.move_to_end(key)
    while len(_memory) > MEMORY_ENTRIES:
        _memory.popitem(last=False)
    return found


def _encode(tok: Any, texts: list[str], max_length: int) -> Tokens:
    rows: list[list[int]] = tok(list(texts), truncation=False, verbose=False)["input_ids"]
    long = [i for i, r in enumerate(rows) if len(r) > max_length]
    if long:
        # Re-encode only the long rows with truncation, so special tokens (BERT's [SEP]) stay in place.
        cut = tok([texts[i] for i in long], truncation=True, max_length=max_length)["input_ids"]
        for i, r in zip(long, cut, strict=True):
            rows[i] = r
    if any(len(r) == 0 for r in rows):
        empty = next(i for i, r in enumerate(rows) if len(r) == 0)
        raise AarError(f"row {empty + 1} tokenizes to nothing; give every row some text")
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((t for r in rows for t in r), dtype=np.int32, count=int(offsets[-1]))
    return Tokens(flat, offsets, len(long))


def _read(path: Path) -> Tokens | None:
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            return Tokens(z["flat"], z["offsets"], int(z["truncated"]))
    except (OSError, ValueError, KeyError):
        return None  # a partial or foreign file: tokenize again


def _write(path: Path, tokens: Tokens) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, flat=tokens.flat, offsets=tokens.offsets, truncated=np.int64(tokens.truncated))
    os.replace(tmp, path)
