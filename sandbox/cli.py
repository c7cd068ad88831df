"""``aar exec RUN AGENT -- CMD``: run a command in an agent's sandbox from the shell.

The command runs in the same kind of sandbox the agent uses, on its
workspace; with docker it joins the agent's running container if the daemon
has one up (and leaves it running), else it makes one for the command and
removes it afterwards. Output streams to this terminal as it comes. With
``sandbox.hosts`` it goes to the host the config's placement gives the agent.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aar.config import RunConfig
from aar.devices import sandbox_config_for
from aar.errors import AarError
from aar.runtime import RunPaths
from sandbox.base import Sandbox, Stream
from sandbox.factory import create_sandbox


async def _print(stream: Stream, line: str) -> None:
    target = sys.stdout if stream == "stdout" else sys.stderr
    target.write(line)
    target.flush()


def _sandbox_of(config: RunConfig, agent: str, workspace: Path) -> Sandbox:
    if not config.sandbox.hosts:
        return create_sandbox(sandbox_config_for(config, agent), name=agent, workspace=workspace)
    from sandbox.docker_backend import DockerSandbox
    from sandbox.hosts import HostPool

    pool = HostPool(config.sandbox, [a.name for a in config.resolved_agents()])
    placement = pool.where(agent)
    return DockerSandbox(pool.config_for(placement), name=agent, workspace=workspace, host=pool.hosts[placement.host])


async def exec_in_run(paths: RunPaths, config: RunConfig, agent: str, argv: list[str]) -> int:
    """Run ``argv`` in ``agent``'s sandbox; return its exit code (124 timed out, 130 interrupted)."""
    names = [a.name for a in config.resolved_agents()]
    if agent not in names:
        raise AarError(f"no agent {agent!r} in run {paths.run_id}; its agents are: {', '.join(names)}")
    workspace = paths.workspace(agent)
    if not workspace.is_dir():
        raise AarError(f"agent {agent} of run {paths.run_id} has no workspace yet ({workspace}); start the run first")
    sandbox = _sandbox_of(config, agent, workspace)
    await sandbox.start()
    try:
        result = await sandbox.exec(argv, on_output=_print, keep_bytes=0)
    except asyncio.CancelledError:
        await sandbox.interrupt()
        raise
    finally:
        if not getattr(sandbox, "adopted", False):
            await sandbox.stop()
    if result.timed_out:
        return 124
    if result.exit_code is None:
        return 130
    return result.exit_code
