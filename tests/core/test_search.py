"""Full-text search over every transcript and post: a word in thinking, in a tool call, in a tool's output
and in a post is found, with its agent, kind and step; the index is rebuilt when deleted; a query FTS5
cannot parse is one line. A real store file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from aar.store import RunStore
from aar.store.search_index import SearchQueryError
from tests.support import aar_cli


async def _steps(store: RunStore) -> int:
    await store.register_agent("agent-1", backend="scripted", model="scripted")
    await store.register_agent("agent-2", backend="scripted", model="scripted")
    await store.append_step(
        "agent-1",
        1,
        [
            (
                "assistant",
                [
                    {"type": "thinking", "thinking": "maybe the heldout labels sit next to the bundle"},
                    {"type": "tool_use", "id": "c1", "name": "bash", "input": {"command": "ls ../evaluator/heldout"}},
                ],
            ),
            ("user", [{"type": "tool_result", "tool_use_id": "c1", "content": "ls: cannot access: zebra"}]),
        ],
    )
    await store.append_step(
        "agent-2",
        1,
        [
            ("assistant", [{"type": "text", "text": "Training the confidence method now."}]),
            (
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": "c2",
                        "content": [{"type": "text", "text": "epoch 3 loss 0.41 okapi"}],
                    },
                    {"type": "text", "text": "[Supervisor message, command #4] heldout is off limits"},
                ],
            ),
        ],
    )
    post = await store.add_post("agent-2", "A quokka result", "PGR 0.41 with the confidence loss")
    await store.catch_up_search()  # the daemon's indexer, a second behind the steps
    return post


async def test_each_kind_of_text_is_found_with_its_agent_kind_and_step(store: RunStore) -> None:
    post = await _steps(store)
    hits = await store.search("heldout")
    assert sorted((h.agent, h.kind, h.step) for h in hits) == [("agent-1", "thinking", 1), ("agent-1", "tool_call", 1)]
    assert "[heldout]" in next(h.snippet for h in hits if h.kind == "tool_call")
    assert [(h.agent, h.kind) for h in await store.search("zebra")] == [("agent-1", "output")]
    assert [(h.agent, h.kind) for h in await store.search("okapi")] == [("agent-2", "output")]
    [found] = await store.search("quokka")
    assert (found.agent, found.kind, found.ref, found.step) == ("agent-2", "post", post, None)
    assert [h.kind for h in await store.search("confidence", kind="post")] == ["post"]
    assert [h.agent for h in await store.search("confidence", agent="agent-2", kind="thinking")] == ["agent-2"]
    assert await store.search("confidence", agent="agent-1") == []
    assert await store.search('"weak_labels.npy"') == []


async def test_a_query_fts5_cannot_parse_is_one_line_that_says_how_to_quote(store: RunStore) -> None:
    await _steps(store)
    for query in ('"unclosed', "weak_labels.npy", "AND"):
        with pytest.raises(SearchQueryError) as refused:
            await store.search(query)
        said = str(refused.value)
        assert "\n" not in said and said.startswith(f"cannot search for {query!r}: ")
        assert "put words in double quotes" in said


async def test_the_index_is_rebuilt_from_the_store_when_deleted(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    async with await RunStore.open(db, create=True) as store:
        await _steps(store)
    with sqlite3.connect(db) as raw:
        raw.execute("DROP TABLE search_fts")  # its post trigger stays, and would fail every post
    async with await RunStore.open(db) as store:
        assert [h.kind for h in await store.search("quokka")] == ["post"], "posts are back at once"
        assert await store.catch_up_search() == 4, "the transcripts are folded again from the first"
        assert [h.kind for h in await store.search("zebra")] == ["output"]
        await store.append_step("agent-2", 2, [("assistant", [{"type": "text", "text": "a new pangolin idea"}])])
        assert await store.search("pangolin") == [], "not folded yet"
        assert await store.catch_up_search() == 1
        assert [h.step for h in await store.search("pangolin")] == [2]
        await store.add_post("agent-1", "wombat", "the post trigger was made again with the index")
        assert [h.kind for h in await store.search("wombat")] == ["post"]


async def test_aar_search_prints_escaped_hits_of_one_run_or_every_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for name in ("r1", "r2"):
        (runs / name).mkdir(parents=True)
        async with await RunStore.open(runs / name / "run.db", create=True) as store:
            await _steps(store)
            await store.add_post("agent-1", "Zebra \x1b[2Jcleared", f"a post of {name}")
    one = aar_cli("search", "r1", "zebra", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    lines = one.stdout.splitlines()
    assert len(lines) == 2 and all("agent-1" in line for line in lines)
    assert any("step 1" in line and " output " in line and "[zebra]" in line for line in lines)
    assert any("post #2" in line and "\\x1b[2J" in line for line in lines), "agent text is escaped"
    assert "\x1b" not in one.stdout
    every = aar_cli("search", "--all", "zebra", "--kind", "post", "--json", cwd=tmp_path)
    assert every.returncode == 0, every.stderr
    assert sorted((h["run"], h["kind"], h["ref"]) for h in json.loads(every.stdout)) == [
        ("r1", "post", 2),
        ("r2", "post", 2),
    ]
    bad = aar_cli("search", "r1", "weak_labels.npy", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.splitlines() == [
        "aar: error: cannot search for 'weak_labels.npy': syntax error near \".\"; put words in double quotes to "
        "search for them as written (for example '\"weak_labels.npy\"')"
    ]
    quoted = aar_cli("search", "r1", '"heldout"', "--agent", "agent-1", cwd=tmp_path)
    assert quoted.returncode == 0 and len(quoted.stdout.splitlines()) == 2
