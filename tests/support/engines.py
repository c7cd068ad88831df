"""More Docker engines on this machine, each a real ``dockerd`` on its own socket, data root and exec root.

They stand in for the other nodes of ``sandbox.hosts``: a different engine,
reached through its own URL, with its own containers and images (the offline
minimal image is imported into each, as into the default engine). They share
this machine's filesystem, which is what shared storage gives real nodes.
``second_engine`` lives for the session; a test that kills its engine starts
its own with ``start_engine``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aar.config import HostConfig
from sandbox.minimal_image import DEFAULT_TAG, ensure_minimal_image
from tests.support.waiting import eventually_sync

START_TIMEOUT_S = 60


@dataclass
class Engine:
    """One extra ``dockerd`` and what a config needs to reach it."""

    root: Path
    process: subprocess.Popen[bytes]
    image: str = DEFAULT_TAG

    @property
    def url(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def host(self, name: str = "second", **capacity: object) -> HostConfig:
        fields: dict[str, object] = {"url": self.url, "name": name, "cpus": 4, "memory": "4g"}
        return HostConfig.model_validate(fields | capacity)

    def stop(self) -> None:
        """Stop the engine (its containers die with it) and wait until it has gone."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def remove(self) -> None:
        self.stop()
        subprocess.run(["umount", "-R", str(self.root / "exec")], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start_engine(*, hiding: Path | None = None) -> Engine:
    """A fresh engine with the minimal image; skips the test where ``dockerd`` is not installed or not root.

    ``hiding``: a folder this engine sees as an empty one (it runs in its own mount namespace with a tmpfs
    there), as a node that does not mount the run's shared storage would."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        pytest.skip("dockerd is not installed: no second Docker engine to place sandboxes on")
    if os.geteuid() != 0:
        pytest.skip("a second dockerd needs root")
    import docker
    import docker.errors

    root = Path(tempfile.mkdtemp(prefix="aar-d2-", dir="/tmp"))
    (root / "daemon.json").write_text("{}")
    log = (root / "dockerd.log").open("wb")
    argv = [
        dockerd,
        f"--host=unix://{root}/docker.sock",
        f"--data-root={root}/data",
        f"--exec-root={root}/exec",
        f"--pidfile={root}/docker.pid",
        f"--config-file={root}/daemon.json",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
    ]
    if hiding is not None:
        hide = f'mount -t tmpfs aar-hidden "{hiding}" && exec "$0" "$@"'
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, *argv]
    engine = Engine(root, subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def answers() -> docker.DockerClient | None:
        if engine.process.poll() is not None:
            raise RuntimeError(f"dockerd exited; its log: {root / 'dockerd.log'}")
        try:
            client = docker.DockerClient(base_url=engine.url, timeout=10)
            client.ping()
            return client
        except docker.errors.DockerException:
            return None

    try:
        client = eventually_sync(answers, timeout=START_TIMEOUT_S, what="the second dockerd to answer")
    except BaseException:
        engine.remove()
        raise
    try:
        ensure_minimal_image(client, engine.image)
    finally:
        client.close()
    return engine


@pytest.fixture(scope="session")
def second_engine() -> Iterator[Engine]:
    """A second Docker engine for the whole session, on its own socket, with the minimal image."""
    engine = start_engine()
    try:
        yield engine
    finally:
        engine.remove()
