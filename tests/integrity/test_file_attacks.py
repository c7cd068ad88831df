"""Attacks on the host's side of the workspace: the file tools, what an exec leaves behind, ``task/`` at a start.

Everything runs through aar's real parts: the agents' ``Toolbox`` with the real ``read_file`` /
``write_file`` / ``edit_file`` tools over a real ``SandboxSlot`` (bubblewrap, plain local, docker),
a real run store, the real evaluator worker and service start. An agent owns its workspace: any
folder on a path may turn into a link to the run's held-out labels while the host opens it, and
any file may be a FIFO, a socket, a device or a 20 GB sparse file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from aar.config import RunConfig
from aar.confined import use_openat2
from aar.events import WorkspaceRepaired
from aar.inbox import catch_up
from aar.runtime import RunContext, RunPaths
from aar.store import RunStore
from agents.agent_state import AgentControl
from agents.sandbox_slot import SandboxSlot
from agents.tools.base import MAX_READ_BYTES, CallContext, Toolbox, ToolResult
from agents.tools.files import EditFile, ReadFile, WriteFile
from agents.tools.submit import SubmitMethod, SubmitPredictions
from evaluator.daemon.runfiles import RunFiles
from evaluator.daemon.service import prepare_workspaces
from sandbox.base import ExecResult, Sandbox
from tests.evaluator.helpers import make_run
from tests.evaluator.test_verify import _verify, run
from tests.sandbox.conftest import host_processes, plain_runs_python, rss_bytes, sandbox_config
from tests.support import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

LABELS = "HELD-OUT-FEEDBACK-LABELS-5e1d"
HONEST = "honest notes of the agent"
BACKENDS = ["local-bwrap", "local-plain", "docker"]
RACE_TRIES = 300
"""Reads and writes tried while the folder flips; the unpatched code leaked within a few dozen."""

FLIPPER = """
import ctypes, os
rename = ctypes.CDLL(None, use_errno=True).renameat2
open("flipping", "w").close()
while True:
    rename(-100, b"d", -100, b"e", 2)  # AT_FDCWD, RENAME_EXCHANGE: d and e swap, atomically
"""
SHELL_FLIPPER = (
    "touch flipping; while :; do mv -T d t; mv -T e d || { rm -rf d; mv -T e d; }; mv -T t e; done 2>/dev/null"
)
"""Where the sandbox has no Python (docker's test image; a root daemon's uid 65534 that cannot reach it),
three plain renames swap d and e, so d is the folder, missing or the link a third of the time each (a
folder that write_file made in the gap is removed)."""


@dataclass
class Agent:
    """One agent's tools over a real sandbox, in a run folder whose held-out labels sit beside its workspace."""

    paths: RunPaths
    slot: SandboxSlot
    call: CallContext
    tools: Toolbox
    store: RunStore

    async def use(self, name: str, **args: object) -> ToolResult:
        return await asyncio.wait_for(self.tools.call(name, args, self.call), 30)

    @property
    def heldout(self) -> Path:
        return self.paths.evaluator_dir / "heldout" / "feedback.json"


@pytest.fixture
async def agent(request: pytest.FixtureRequest, base: Path) -> AsyncIterator[Agent]:
    kind: str = request.param
    image = request.getfixturevalue("docker_image") if kind == "docker" else None
    if kind == "local-plain":
        request.getfixturevalue("without_bubblewrap")
    paths = RunPaths(base / "runs" / "race")
    paths.make()
    workspace = paths.workspace("agent-1")
    workspace.mkdir(parents=True)
    paths.root.chmod(0o711)
    paths.workspaces.chmod(0o711)
    (paths.evaluator_dir / "heldout").mkdir(parents=True)
    (paths.evaluator_dir / "heldout" / "feedback.json").write_text(LABELS)
    config = RunConfig.model_validate({"run": {"name": "race"}, "team": {"count": 1}})
    store = await RunStore.open(paths.db, create=True)
    sandbox = sandbox_config(kind, image, exec_timeout_s=120)
    if kind == "local-bwrap":
        sandbox = sandbox.model_copy(update={"isolation": "required"})
    slot = SandboxSlot(sandbox, store=store, agent="agent-1", run_id="race", workspace=workspace)
    call = CallContext("agent-1", 1, "c1", store, config, slot, AgentControl("agent-1"))
    tools = Toolbox([ReadFile(), WriteFile(), EditFile(), SubmitPredictions(), SubmitMethod()])
    try:
        isolation = {"local-bwrap": "bubblewrap", "local-plain": "none", "docker": "docker"}[kind]
        assert (await slot.get()).isolation == isolation
        yield Agent(paths, slot, call, tools, store)
    finally:
        await slot.close()
        await store.close()


def _backends() -> pytest.MarkDecorator:
    return pytest.mark.parametrize(
        "agent", [pytest.param(k, marks=[pytest.mark.docker] if k == "docker" else []) for k in BACKENDS], indirect=True
    )


@_backends()
@pytest.mark.parametrize("resolver", ["openat2", "walk"])
async def test_a_folder_flipped_to_a_link_never_yields_or_overwrites_the_labels(agent: Agent, resolver: str) -> None:
    """A process in the sandbox swaps ``d`` (a real folder) and ``e`` (a link to ``evaluator/heldout``)
    while the agent reads and writes ``d/feedback.json`` through its tools, again and again."""
    use_openat2(resolver == "openat2")
    workspace = agent.slot.workspace
    sandbox = await agent.slot.get()
    made = await sandbox.exec(f"mkdir d && printf '{HONEST}' > d/feedback.json && ln -s ../../evaluator/heldout e")
    assert made.ok, made.stderr
    python = sandbox.backend == "local" and (sandbox.isolation == "bubblewrap" or plain_runs_python())
    flipper = asyncio.create_task(sandbox.exec(["python", "-c", FLIPPER] if python else SHELL_FLIPPER, timeout=120))

    async def flipping() -> bool:
        return (workspace / "flipping").exists() or flipper.done()

    try:
        await eventually(flipping, timeout=30, what="the flipper starting", interval=0.1)
        assert not flipper.done(), flipper.result()
        results: list[ToolResult] = []
        deadline = time.monotonic() + 120
        # At least RACE_TRIES rounds, and on until the flipper was caught both ways (a link on the path,
        # the real folder), however slowly a loaded machine lets it flip.
        while (
            not _leaked(results)
            and agent.heldout.read_text() == LABELS
            and (len(results) < 3 * RACE_TRIES or not (_saw_link(results) and _saw_honest(results)))
        ):
            assert time.monotonic() < deadline, "the flipper never showed both states"
            n = len(results)
            results.append(await agent.use("read_file", path="d/feedback.json"))
            results.append(await agent.use("write_file", path="d/feedback.json", content=f"{HONEST} {n}"))
            results.append(await agent.use("edit_file", path="d/feedback.json", old=HONEST, new=HONEST))
        assert not flipper.done(), flipper.result()
    finally:
        await sandbox.interrupt()
        with contextlib.suppress(Exception):
            await flipper
        use_openat2(True)
    assert not _leaked(results), f"{len(_leaked(results))} of {len(results)} calls returned the held-out labels"
    assert agent.heldout.read_text() == LABELS, "the held-out labels were overwritten"
    assert all("\n" not in r.output for r in results if r.is_error)


def _leaked(results: list[ToolResult]) -> list[str]:
    return [r.output for r in results if LABELS in r.output]


def _saw_link(results: list[ToolResult]) -> bool:
    """The flipper really put a link on the path (and it was refused)."""
    return any(r.is_error and "symbolic link" in r.output for r in results)


def _saw_honest(results: list[ToolResult]) -> bool:
    """Reads of the real folder still work between flips: the near miss stays usable."""
    return any(not r.is_error and HONEST in r.output for r in results)


HOSTILE_SETUP = """
mkfifo fifo
truncate -s 20G sparse
mkdir -p real && echo fine > real/ok.txt
ln -s real linked
ln -s /etc etc-link
"""


@_backends()
async def test_hostile_files_get_one_line_each_never_block_and_cost_no_memory(agent: Agent) -> None:
    sandbox = await agent.slot.get()
    assert (await sandbox.exec(HOSTILE_SETUP)).ok
    workspace = agent.slot.workspace
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(workspace / "sock"))
    if os.geteuid() == 0:  # what a root agent's mknod leaves (the sandboxes themselves have no CAP_MKNOD)
        os.mknod(workspace / "null-device", 0o666 | 0o020000, os.makedev(1, 3))
    before = rss_bytes()
    cases = {
        "fifo": "FIFO",
        "sparse": f"over the {MAX_READ_BYTES}-byte limit",
        "sock": "socket",
        **({"null-device": "character device"} if os.geteuid() == 0 else {}),
        "linked/ok.txt": "symbolic link",
        "etc-link/hostname": "symbolic link",
        "real/../../race/run.db": "outside the workspace",
        "a\nb.txt": "control characters or newlines",
    }
    try:
        for path, why in cases.items():
            for tool in ("read_file", "submit_predictions", "submit_method"):
                result = await agent.use(tool, path=path)
                assert result.is_error and why in result.output and "\n" not in result.output, (tool, path, result)
            result = await agent.use("write_file", path=path, content="x")
            if path != "sparse":  # a regular file: writing it is fine
                assert result.is_error and "\n" not in result.output, (path, result)
        grown = rss_bytes() - before
        assert grown < MAX_READ_BYTES, f"the daemon grew by {grown} bytes"
        assert (await agent.use("read_file", path="real/ok.txt")).output.endswith("fine")
        assert not (workspace / "a\nb.txt").exists()
        assert not await agent.store.submissions(), "nothing hostile became a submission"
    finally:
        listener.close()


@_backends()
async def test_no_process_of_an_exec_outlives_it(agent: Agent) -> None:
    """``setsid`` leaves the command's group and session: it must still die when the exec returns."""
    sandbox = await agent.slot.get()
    marker = "4243"
    result = await sandbox.exec(f"setsid sleep {marker} </dev/null >/dev/null 2>&1 & echo started")
    assert result.ok and result.stdout == "started\n"

    async def gone() -> bool:
        return not host_processes(f"sleep {marker}")

    await eventually(gone, timeout=5, what="the setsid child's death", interval=0.1)
    # The near miss: a process that ends with its command is no business of the sweep, and the next exec works.
    assert (await sandbox.exec("echo again")).stdout == "again\n"


FIFO_METHOD = """
import atexit, os, sys
from evaluator.compute.methods import vanilla

def _fifo():  # every seed's predictions file, once all are written
    out = sys.argv[sys.argv.index("--out") + 1]
    for seed in (v for k, v in zip(sys.argv, sys.argv[1:]) if k == "--seed"):
        os.remove(out.replace("{seed}", seed))
        os.mkfifo(out.replace("{seed}", seed))

atexit.register(_fifo)

def run(ctx):
    return vanilla.run(ctx, epochs=1)
"""


async def test_a_fifo_left_as_predictions_fails_the_job_at_once(run: tuple[RunPaths, RunStore]) -> None:
    """Before, the worker's only thread blocked on the FIFO until ``job_timeout_s`` (300 s here), twice."""
    _, store = run
    started = time.monotonic()
    job_id = await _verify(store, FIFO_METHOD)
    job = await store.job(job_id)
    assert job is not None and job.status == "failed", job
    assert "FIFO" in job.error and "\n" not in job.error, job.error
    assert time.monotonic() - started < 150


def _hostile_workspaces(paths: RunPaths) -> dict[str, str]:
    """Each agent's ``task`` broken a different way; returns what the repair must say, by agent."""
    ws = paths.workspace
    os.rename(ws("agent-1") / "task", ws("agent-1") / "old")
    os.symlink("../../evaluator/heldout", ws("agent-1") / "task")
    os.rename(ws("agent-2") / "task", ws("agent-2") / "old")
    os.symlink("nowhere", ws("agent-2") / "task")
    os.rename(ws("agent-3") / "task", ws("agent-3") / "old")
    (ws("agent-3") / "task").write_text("not a folder")
    manifest = ws("agent-4") / "task" / "task.json"
    manifest.unlink()
    os.mkfifo(manifest)
    os.mkfifo(ws("agent-4") / "task" / "pipe")
    os.truncate(ws("agent-4") / "task" / "README.md", 20 * 2**30)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(ws("agent-4") / "task" / "sock"))
    listener.close()
    os.symlink("/etc", ws("agent-4") / "task" / "etc")
    return {
        "agent-1": "task was a symbolic link",
        "agent-2": "task was a symbolic link",
        "agent-3": "task was a file, not a folder",
        "agent-4": "task/task.json was a FIFO (named pipe)",
    }


async def test_a_start_repairs_every_hostile_task_folder_and_says_which(base: Path) -> None:
    sections: dict[str, dict[str, object]] = {"team": {"count": 5}, "task": {"size": 1000}}
    paths = make_run(base / "runs" / "resume", **sections)
    config = RunConfig.model_validate(sections)
    store = await RunStore.open(paths.db, create=True)
    try:
        ctx = RunContext(paths=paths, config=config, store=store)
        await prepare_workspaces(ctx)
        bundle = RunFiles(paths).bundle
        heldout = sorted((paths.evaluator_dir / "heldout").iterdir())
        assert heldout, "the run has held-out files to protect"
        before = {p: p.read_bytes() for p in heldout}
        expected = _hostile_workspaces(paths)

        await asyncio.wait_for(prepare_workspaces(ctx), 120)  # the start of a resumed run

        for n in range(1, 6):
            task = paths.workspace(f"agent-{n}") / "task"
            assert task.is_dir() and not task.is_symlink()
            assert (task / "task.json").read_bytes() == (bundle / "task.json").read_bytes()
        assert {p: p.read_bytes() for p in heldout} == before, "nothing was followed into evaluator/heldout"
        await store.flush()
        repaired = {
            e.agent: e.payload.found
            for e in await store.events_after(0, limit=10_000)
            if isinstance(e.payload, WorkspaceRepaired)
        }
        assert repaired == expected, "each broken workspace is named once, the honest one (agent-5) never"
        await catch_up(store)
        items = [i for i in await store.inbox() if i.kind == "sandbox"]
        assert sorted(i.agent or "" for i in items) == sorted(expected)
        assert all(i.agent and i.agent in i.summary and "clean copy" in i.summary for i in items)
    finally:
        await store.close()


class StandIn:
    """A real sandbox whose ``exec`` runs a stand-in for ``evaluator.compute.run_method`` (where the sandbox cannot
    import aar: a worktree whose venv points at another checkout); everything else is the sandbox's own."""

    def __init__(self, sandbox: Sandbox, script: str) -> None:
        self.sandbox = sandbox
        self.script = script

    async def exec(self, command: list[str], **kwargs: Any) -> ExecResult:
        out = command[command.index("--out") + 1].format(seed=command[command.index("--seed") + 1])
        return await self.sandbox.exec(["python", "-c", self.script, out], **kwargs)

    async def read_file(self, path: str, *, limit: int) -> bytes:
        return await self.sandbox.read_file(path, limit=limit)


STAND_IN = """
import atexit, json, os, sys
out = sys.argv[1]
if os.path.lexists(out):
    os.remove(out)
json.dump({"feedback": [0.5] * 3, "final": [0.5] * 2}, open(out, "w"))
atexit.register(lambda: (os.remove(out), os.mkfifo(out)))
"""


@pytest.mark.parametrize(
    ("script", "why"),
    [(STAND_IN, "FIFO"), ("import os, sys; os.system('truncate -s 20G ' + sys.argv[1])", "limit")],
)
async def test_the_verifier_refuses_a_hostile_predictions_file_at_once(base: Path, script: str, why: str) -> None:
    from evaluator.daemon.job_specs import JobError
    from evaluator.daemon.verify import _run_seeds
    from sandbox.local import LocalSandbox

    workspace = base / "runs" / "v" / "workspaces" / "verify-1"
    workspace.mkdir(parents=True)
    box = LocalSandbox(sandbox_config("local-bwrap"), name="verify-1", workspace=workspace, isolate=True)
    config = RunConfig.model_validate({"sandbox": {"exec_timeout_s": 60}, "evaluator": {"job_timeout_s": 30}})
    ev = SimpleNamespace(method_device="cpu", threads=0, n_feedback=3, data={"final": [0, 1]}, config=config)
    before = rss_bytes()
    try:
        with pytest.raises(JobError, match=why):
            seeds = _run_seeds(StandIn(box, script), "m.py", [0], ev)  # type: ignore[arg-type]  # ev: the fields it reads
            await asyncio.wait_for(seeds, 30)
        # The near miss: the same stand-in without the trick is read and accepted.
        honest = STAND_IN.replace("atexit.register", "(lambda *a: None)")
        (run,) = await _run_seeds(StandIn(box, honest), "m.py", [0], ev)  # type: ignore[arg-type]  # ev: the fields it reads
        assert run["feedback"] == [0.5] * 3
    finally:
        await box.stop()
    assert rss_bytes() - before < 16 * 2**20
