"""Local-only behaviour: aar's interpreter inside, bubblewrap's mount plan, dying with the daemon."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import sandbox.bwrap
from sandbox.base import Sandbox
from tests.sandbox.conftest import (
    DB_SECRET,
    LABEL_SECRET,
    RunLayout,
    host_processes,
    make_layout,
    skip_without_plain_python,
)
from tests.support import eventually_sync


@pytest.mark.parametrize("kind", ["local-bwrap", "local-plain"])
async def test_commands_run_aars_own_python(make_sandbox: Callable[..., Sandbox], kind: str) -> None:
    skip_without_plain_python(kind)
    box = make_sandbox(kind)
    result = await box.exec(["python", "-c", "import sys, aar.config, evaluator.compute.run_method; print(sys.prefix)"])
    assert result.ok, result.stderr
    assert result.stdout.strip() == sys.prefix
    assert box.isolation == ("bubblewrap" if kind == "local-bwrap" else "none")


@pytest.mark.parametrize("kind", ["local-bwrap", "local-plain"])
async def test_memory_limit_applies(make_sandbox: Callable[..., Sandbox], kind: str) -> None:
    skip_without_plain_python(kind)
    box = make_sandbox(kind, memory="200m")
    result = await box.exec(["python", "-c", "x = bytearray(400 * 2**20)"])
    assert result.exit_code == 1 and "MemoryError" in result.stderr
    assert (await box.exec(["python", "-c", "x = bytearray(50 * 2**20)"])).ok


async def test_plain_mode_is_announced_as_no_isolation(make_sandbox: Callable[..., Sandbox], layout: RunLayout) -> None:
    await make_sandbox("local-plain").start()
    (event,) = layout.events
    assert event.isolation == "none" and "no isolation" in event.detail


async def test_bwrap_hides_home_docker_socket_and_host_processes(make_sandbox: Callable[..., Sandbox]) -> None:
    box = make_sandbox("local-bwrap")
    result = await box.exec(
        "for p in /var/run/docker.sock /run/docker.sock /root/.bash_history; do test -e $p && echo SEEN $p; done;"
        " echo procs $(ls -d /proc/[0-9]* | wc -l); touch /usr/x 2>&1; true"
    )
    assert "SEEN" not in result.stdout
    assert Path("/var/run/docker.sock").exists() or Path("/run/docker.sock").exists(), (
        "control: the host has the socket"
    )
    # bwrap's init, strace (sandbox.touched), the shell, ls and wc: the host's dozens are not there.
    assert int(result.stdout.split("procs ")[1].split()[0]) < 7, "only the sandbox's own processes are visible"
    assert "Read-only file system" in result.stdout


async def test_run_folder_inside_a_bound_tree_is_masked(
    monkeypatch: pytest.MonkeyPatch, make_sandbox: Callable[..., Sandbox], layout: RunLayout
) -> None:
    """A run under a folder the sandbox binds (say runs/ inside the source tree) is hidden by a tmpfs."""
    roots = sandbox.bwrap.python_roots()
    bound = layout.root.parent.parent
    monkeypatch.setattr(sandbox.bwrap, "python_roots", lambda: [*roots, str(bound)])
    box = make_sandbox("local-bwrap")
    seen = await box.exec(f"ls {bound}/runs; cat {layout.root}/run.db {layout.root}/evaluator/heldout/final.json; true")
    assert "demo-20260101" in seen.stdout, "the bound tree is visible (so the mask is what hides the run)"
    assert DB_SECRET not in seen.stdout and LABEL_SECRET not in seen.stdout
    assert (await box.exec("echo fine > w.txt && cat w.txt")).stdout == "fine\n"


def test_bwrap_argv_masks_only_a_run_inside_a_bound_root(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    argv = sandbox.bwrap.bwrap_argv("bwrap", layout.workspace, ["true"], cwd="/workspace")
    assert str(layout.root) not in argv and "--share-net" not in argv
    assert argv[argv.index("--bind") + 1 : argv.index("--bind") + 3] == [str(layout.workspace.resolve()), "/workspace"]
    assert "--share-net" in sandbox.bwrap.bwrap_argv(
        "bwrap", layout.workspace, ["true"], cwd="/workspace", network=True
    )


CHILD = """
import asyncio, sys
from pathlib import Path
from aar.config import SandboxConfig
from sandbox.local import LocalSandbox

async def main():
    box = LocalSandbox(SandboxConfig(backend="local", isolation="none-allowed"), name="a", workspace=Path(sys.argv[1]), isolate=sys.argv[2] == "1")
    async def show(stream, line):
        print(line, end="", flush=True)
    await box.exec("echo ready; sleep " + sys.argv[3], on_output=show)

asyncio.run(main())
"""


@pytest.mark.parametrize("isolate", [True, False])
def test_commands_die_with_the_daemon(layout: RunLayout, isolate: bool) -> None:
    workspace = layout.workspace
    mark = f"{5000 + os.getpid() % 1000}.{int(isolate)}{time.time_ns() % 997}"
    daemon = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(workspace), "1" if isolate else "0", mark],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None and daemon.stdout.readline() == "ready\n"
        # The shell prints "ready" a moment before it starts sleep.
        eventually_sync(lambda: host_processes(f"sleep {mark}"), timeout=5, interval=0.02, what="the sleep to start")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
        eventually_sync(
            lambda: host_processes(f"sleep {mark}") == [], timeout=5, interval=0.05, what="the daemon's command to die"
        )
    finally:
        daemon.kill()


@pytest.mark.parametrize("kind", ["local-bwrap", "local-plain"])
async def test_each_agent_sees_only_its_assigned_gpus(make_sandbox: Callable[..., Sandbox], kind: str) -> None:
    from aar.config import load_config
    from aar.devices import sandbox_config_for

    config = load_config({"team": {"count": 2}, "devices": {"evaluator": ["cpu"], "sandboxes": ["cuda:2", "cuda:3"]}})
    seen = []
    for agent in ("agent-1", "agent-2"):
        box = make_sandbox(kind, gpus=sandbox_config_for(config, agent).gpus)
        result = await box.exec(["bash", "-c", "echo $CUDA_VISIBLE_DEVICES"])
        assert result.ok, result.stderr
        seen.append(result.stdout.strip())
    assert seen == ["2", "3"]
