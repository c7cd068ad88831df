"""``aar eval --task jsonl`` on tiny checkpoints of several families, and its one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evaluator.daemon.cli import main, render
from tests.evaluator import hf_models
from tui.text import throughput_line

pytestmark = pytest.mark.slow  # HF training


@pytest.fixture(scope="module")
def decoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("decoders")
    return {f: hf_models.checkpoint(root / f, f) for f in ("qwen2", "llama")}


def argv(data: Path, weak: Path, strong: Path, *extra: str) -> list[str]:
    return [
        "--task",
        "jsonl",
        "--data-dir",
        str(data),
        "--weak-model",
        str(weak),
        "--strong-model",
        str(strong),
        "--seeds",
        "1",
        *extra,
    ]


def test_aar_eval_jsonl_with_qwen2_and_llama_reports_throughput(
    tiny_hf: dict[str, Path], decoders: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    args = argv(
        tiny_hf["data"],
        decoders["qwen2"],
        decoders["llama"],
        "--cache-dir",
        str(cache),
        "--training",
        "max_tokens_per_batch=256",
        "--no-checks",  # what the baselines train, alone: the canary's run would train more
    )
    assert main([*args, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (m,) = report["methods"]
    assert m["examples"] == 20 and 0 <= m["acc_weak"] <= 1 and 0 <= m["acc_ceiling"] <= 1
    training = report["training"]
    # Weak (its secret half of the 40 weak_train rows) and ceiling + vanilla (60 rows each), two epochs each.
    assert training["examples"] == 2 * (20 + 60 + 60)
    assert training["real_tokens"] <= training["padded_tokens"] and 0 <= training["padding_share"] < 0.5
    assert training["examples_per_s"] > 0 and training["tokens_per_s"] > 0 and training["peak_memory_mb"] > 0
    assert report["baseline_training"]["examples"] == training["examples"]
    assert list(cache.glob("jsonl-*/tokens-v1/*.npz")), "tokenized splits are cached beside the baselines"
    assert "\ntraining: " in render(report, throughput_line), "the text report says what training did"
    assert main(args, training_line=throughput_line) == 0
    text = capsys.readouterr().out
    assert "PGR" in text and "training: " not in text, "baselines come from the cache: nothing trained"


def test_a_checkpoint_folder_without_a_model_is_one_line(
    tiny_hf: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "tokenizer.json").write_text("{}")
    assert main(argv(tiny_hf["data"], tiny_hf["weak"], empty, "--no-cache")) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {empty} holds no model: a checkpoint folder needs config.json and model.safetensors "
        "(or pytorch_model.bin), as save_pretrained writes them"
    )


def test_a_tokenizer_without_pad_or_eos_is_one_line(
    tiny_hf: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = hf_models.checkpoint(tmp_path / "bare", "llama", eos_token=None)
    assert main(argv(tiny_hf["data"], bare, tiny_hf["strong"], "--no-cache")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.endswith(
        'neither a pad nor an eos token; set "pad_token" in its tokenizer_config.json'
    )


def test_a_label_that_is_not_0_or_1_is_one_line(
    tiny_hf: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_hf["data"], data)
    rows = (data / "train_label.jsonl").read_text().splitlines()
    rows[2] = json.dumps({"text": "a fine day", "label": 2})
    (data / "train_label.jsonl").write_text("\n".join(rows) + "\n")
    assert main(argv(data, tiny_hf["weak"], tiny_hf["strong"], "--no-cache")) == 2
    assert capsys.readouterr().err.strip() == "error: train_label.jsonl:3: label must be 0 or 1, got 2"


def test_a_bad_training_key_is_one_line(tiny_hf: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv(tiny_hf["data"], tiny_hf["weak"], tiny_hf["strong"], "--training", "max_length=-3")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "training.max_length" in err
