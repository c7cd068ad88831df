"""dump_config -> load_config gives back the same config, for any config a user can write.

The generated configs cover every section and every list, keys that need quoting in TOML
(``[anthropic.prices."claude-3.5-x"]``, spaces, quotes, unicode) and unicode text anywhere
a string goes. A run's saved config is what ``aar resume`` reads, so a config that does not
read back is a run that cannot be resumed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aar.config import NAME_PATTERN, RunConfig, dump_config, load_config

HERE = Path(__file__).parent
EXISTING = [HERE, HERE.parent, Path("/")]
"""Paths that exist, for the jsonl task (its paths must)."""

SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
"""Lone surrogates cannot be written as UTF-8."""
text = st.text(st.characters(codec="utf-8", exclude_categories=SURROGATES), max_size=24)
non_empty = st.text(st.characters(codec="utf-8", exclude_categories=SURROGATES), min_size=1, max_size=24)
model_ids = st.one_of(
    st.sampled_from(["claude-3.5-x", "anthropic.claude-3-5-sonnet-20240620-v1:0", 'a "quoted" id', "über.model", ""]),
    text,
)
names = st.from_regex(NAME_PATTERN, fullmatch=True)
money = st.floats(min_value=0, allow_nan=False, allow_infinity=True)
sizes_mb = st.floats(min_value=0, max_value=1e9, allow_nan=False)
positive = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
count = st.integers(min_value=0, max_value=2**63 - 1)
paths = text.map(Path)


def table(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(required, optional=optional)


budgets = table({}, {"tokens": count, "dollars": money, "wall_clock_s": money})
prices = table({"input": money, "output": money, "cache_write": money, "cache_read": money}, {})
agents = st.lists(
    table(
        {"name": names},
        {
            "direction": text,
            "backend": st.sampled_from(["scripted", "anthropic"]),
            "model": model_ids,
            "budget": budgets,
        },
    ),
    max_size=4,
    unique_by=lambda a: a["name"],
)
toy_task = table({}, {"name": st.just("toy"), "size": st.integers(min_value=100, max_value=10**9)})
jsonl_task = table(
    {
        "name": st.just("jsonl"),
        "data_dir": st.sampled_from(EXISTING),
        "weak_model": st.sampled_from(EXISTING),
        "strong_model": st.sampled_from(EXISTING),
    },
    {},
)
sections = {
    "run": table(
        {}, {"name": names, "runs_dir": paths, "dollar_cap": money, "max_steps": count, "disk_reserve_mb": sizes_mb}
    ),
    "team": table(
        {},
        {
            "count": st.integers(min_value=1, max_value=64),
            "backend": st.sampled_from(["scripted", "anthropic"]),
            "model": model_ids,
            "pace_s": money,
            "approval": st.booleans(),
            "budget": budgets,
        },
    ),
    "agents": agents,
    "anthropic": table(
        {},
        {
            "base_url": st.none() | text,
            "api_key_env": st.from_regex(r"^[A-Z_][A-Z0-9_]*$", fullmatch=True),
            "max_tokens": st.integers(min_value=1, max_value=128_000),
            "context_window": st.integers(min_value=1000, max_value=10**7),
            "compact_at": st.floats(min_value=0.01, max_value=0.99),
            "max_retries": st.integers(min_value=0, max_value=20),
            "timeout_s": positive,
            "prices": st.dictionaries(model_ids, prices, max_size=4),
        },
    ),
    "sandbox": table(
        {},
        {
            "backend": st.sampled_from(["auto", "docker", "local"]),
            "image": text,
            "network": st.booleans(),
            "memory": st.from_regex(r"^\d{1,6}(\.\d{1,3})?[kmgKMG]?$", fullmatch=True),
            "cpus": st.floats(min_value=0.01, max_value=512),
            "pids": st.integers(min_value=16, max_value=1_000_000),
            "gpus": st.from_regex(r"^(all|none|\d{1,2}(,\d{1,2}){0,3})$", fullmatch=True),
            "exec_timeout_s": positive,
        },
    ),
    "task": toy_task | jsonl_task,
    "evaluator": table(
        {},
        {
            "device": st.sampled_from(["auto", "cpu", "cuda", "cuda:1"]),
            "seeds": st.integers(min_value=1, max_value=64),
            "query_budget": count,
            "rate_limit_per_min": positive,
            "job_timeout_s": positive,
            "backend": st.sampled_from(["local", "ray"]),
        },
    ),
    "ray": table(
        {},
        {
            "address": st.sampled_from(["auto", "127.0.0.1:6379", "ray://head.lab:10001"]),
            "num_cpus": st.floats(min_value=0, max_value=64),
            "num_gpus": st.floats(min_value=0, max_value=8),
            "memory_mb": st.integers(min_value=0, max_value=10**6),
            "resources": st.dictionaries(st.from_regex(r"^[A-Za-z_][A-Za-z0-9_]{0,15}$", fullmatch=True), positive),
            "connect_timeout_s": st.floats(min_value=0.1, max_value=600),
            "run_folder": st.sampled_from(["object_store", "shared"]),
            "max_retries": st.integers(min_value=0, max_value=10),
        },
    ),
}


def _valid(data: dict[str, Any]) -> bool:
    """A networked sandbox beside a Ray cluster is refused (``test_config``): not a file to round-trip."""
    return not (data.get("evaluator", {}).get("backend") == "ray" and data.get("sandbox", {}).get("network"))


run_files = table({}, sections).filter(_valid)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_files)
def test_dump_then_load_gives_the_same_config(data: dict[str, Any]) -> None:
    config = load_config(data)
    written = dump_config(config)
    again = load_config(tomllib.loads(written))
    assert again == config
    assert dump_config(again) == written


def test_dotted_price_key_is_written_quoted(tmp_path: Path) -> None:
    config = load_config(
        {
            "anthropic": {
                "prices": {
                    "claude-3.5-x": dict.fromkeys(("input", "output"), 1.0) | {"cache_write": 2.0, "cache_read": 0.5}
                }
            }
        }
    )
    written = dump_config(config)
    assert '[anthropic.prices."claude-3.5-x"]' in written
    saved = tmp_path / "config.toml"
    saved.write_text(written)
    assert load_config(saved) == config


def test_every_section_is_written() -> None:
    written = tomllib.loads(dump_config(RunConfig()))
    assert set(written) >= set(RunConfig.model_fields) - {"agents"}
