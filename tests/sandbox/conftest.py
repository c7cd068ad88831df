"""Fixtures of the sandbox suite: real bubblewrap, a real Docker engine, a real run layout.

The docker image is made offline from the host's busybox and bash
(``sandbox.minimal_image``), so no registry is needed. Every sandbox gets a
workspace inside a run folder whose ``run.db`` and ``evaluator/`` hold known
secrets, so a test can check that they cannot be read from inside.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aar.config import HostConfig, SandboxConfig
from aar.events import SandboxLifecycle
from sandbox.base import Sandbox
from sandbox.bwrap import bwrap_path
from tests.support.engines import Engine

DB_SECRET = "RUN-DB-SECRET-7f3a"
LABEL_SECRET = "HELD-OUT-LABELS-91c2"


@dataclass
class RunLayout:
    root: Path
    workspace: Path
    events: list[SandboxLifecycle] = field(default_factory=list)

    async def record(self, event: SandboxLifecycle) -> None:
        self.events.append(event)

    def actions(self) -> list[str]:
        return [e.action for e in self.events]


def make_layout(base: Path) -> RunLayout:
    root = base / "runs" / "demo-20260101"
    workspace = root / "workspaces" / "agent-1"
    (root / "evaluator" / "heldout").mkdir(parents=True)
    workspace.mkdir(parents=True)
    (root / "run.db").write_text(DB_SECRET)
    (root / "evaluator" / "heldout" / "final.json").write_text(LABEL_SECRET)
    return RunLayout(root, workspace)


def sandbox_config(kind: str, docker_image: str | None = None, **overrides: object) -> SandboxConfig:
    base: dict[str, object] = {
        "backend": "docker" if kind.startswith("docker") else "local",
        "memory": "256m",
        "pids": 128,
        "cpus": 1.0,
    }
    if kind == "local-plain":
        base["isolation"] = "none-allowed"  # a plain subprocess is no isolation: it must be asked for
    if docker_image:
        base["image"] = docker_image
    return SandboxConfig.model_validate(base | overrides)


@pytest.fixture
def layout() -> Iterator[RunLayout]:
    # Not under pytest's tmp_path (mode 700 for root): as root, a plain sandbox runs its commands
    # as an unprivileged user, who must be able to pass every folder above the workspace.
    base = Path(tempfile.mkdtemp(prefix="aar-sandbox-test-"))
    base.chmod(0o711)
    try:
        yield make_layout(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def build_sandbox(
    kind: str, layout: RunLayout, image: str | None, host: HostConfig | None = None, **overrides: object
) -> Sandbox:
    """A sandbox of ``kind`` (local-bwrap, local-plain, docker, docker-host: docker on ``host``, a second
    engine of ``sandbox.hosts``) on ``layout``'s workspace."""
    if host is not None:
        overrides = {"hosts": [host.model_dump()]} | overrides
    config = sandbox_config(kind, image, **overrides)
    if kind.startswith("docker"):
        from sandbox.docker_backend import DockerSandbox

        return DockerSandbox(config, name="agent-1", workspace=layout.workspace, on_event=layout.record, host=host)
    if kind == "local-bwrap" and bwrap_path() is None:
        pytest.fail("bubblewrap does not work here; scripts/test installs it (apt-get install -y bubblewrap)")
    from sandbox.local import LocalSandbox

    return LocalSandbox(
        config, name="agent-1", workspace=layout.workspace, on_event=layout.record, isolate=kind == "local-bwrap"
    )


@pytest.fixture
async def make_sandbox(request: pytest.FixtureRequest, layout: RunLayout) -> AsyncIterator[Callable[..., Sandbox]]:
    """Build sandboxes with config overrides; every one is stopped at the end."""
    made: list[Sandbox] = []

    def build(kind: str, **overrides: object) -> Sandbox:
        image, host = None, None
        if kind == "docker":
            image = request.getfixturevalue("docker_image")
        elif kind == "docker-host":
            engine: Engine = request.getfixturevalue("second_engine")
            image, host = engine.image, engine.host()
        made.append(build_sandbox(kind, layout, image, host, **overrides))
        return made[-1]

    try:
        yield build
    finally:
        for box in made:
            await box.stop()


@pytest.fixture(
    params=[
        pytest.param("local-bwrap", marks=pytest.mark.slow),  # bubblewrap runs: the slow tier
        "local-plain",
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("docker-host", marks=pytest.mark.docker),  # on a second engine, as one of sandbox.hosts
    ]
)
async def sandbox(request: pytest.FixtureRequest, make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    """One sandbox of each backend: the conformance suite runs once per backend."""
    return make_sandbox(request.param)


def plain_runs_python() -> bool:
    """False where a plain local sandbox cannot run aar's Python: a root daemon drops to uid 65534,
    and this interpreter lies under a folder that user may not pass (a pyenv under /root)."""
    from sandbox import unprivileged
    from sandbox.bwrap import python_roots

    return not unprivileged.wanted() or unprivileged.python_note(python_roots()) == ""


def skip_without_plain_python(kind: str) -> None:
    if kind == "local-plain" and not plain_runs_python():
        pytest.skip("root without bubblewrap runs commands as uid 65534, who cannot reach this Python interpreter")


def host_processes(marker: str) -> list[str]:
    """Command lines of every process on the host (containers' and namespaces' included) containing ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and "pytest" not in cmdline:
            found.append(cmdline)
    return found


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")
