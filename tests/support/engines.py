"""More Docker engines on this machine, each a real ``dockerd`` on its own socket, data root and exec root.

They stand in for the other nodes of ``sandbox.hosts``: a different engine,
reached through its own URL, with its own containers and images (the offline
minimal image is imported into each, as into the default engine). They share
this machine's filesystem, which is what shared storage gives real nodes.
``second_engine`` lives for the session; a test that kills its engine starts
its own with ``start_engine``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from aar.config import HostConfig
from sandbox.minimal_image import DEFAULT_TAG, ensure_minimal_image
from tests.support.waiting import eventually_sync

START_TIMEOUT_S = 60
PREFIX = "aar-d2-"


@dataclass
class Engine:
    """One extra ``dockerd`` and what a config needs to reach it."""

    root: Path
    process: subprocess.Popen[bytes] | None
    """None until started (or for a stale engine of an earlier session, ended by its folder's processes)."""
    image: str = DEFAULT_TAG
    tcp_url: str = ""
    """``tcp://127.0.0.1:PORT`` (TLS verified both ways) when started with ``tls``."""
    owner: IO[str] | None = None
    """Held locked while this session owns the engine: a folder whose lock is free is a stale one."""

    @property
    def url(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def host(self, name: str = "second", *, over_tls: bool = False, **capacity: object) -> HostConfig:
        fields: dict[str, object] = {"url": self.url, "name": name, "cpus": 4, "memory": "4g"}
        if over_tls:
            fields["url"] = self.tcp_url
            fields["tls"] = tls_files(self.root / "certs", "ca.pem", "cert.pem", "key.pem")
        return HostConfig.model_validate(fields | capacity)

    def stop(self) -> None:
        """Stop the engine (its containers die with it) and wait until it has gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def remove(self) -> None:
        """Stop the engine, end what an abrupt kill left behind (its containerd shims and their containers),
        unmount its layers and delete its folder."""
        self.stop()
        leftovers = _processes_of(self.root)
        for pid in leftovers:  # a shim's children first (each container's pid 1 takes its namespace with it)
            for child in _children(pid):
                _signal(child, signal.SIGKILL)
        for pid in leftovers:
            _signal(pid, signal.SIGKILL)
        eventually_sync(lambda: not _processes_of(self.root), timeout=30, what=f"the processes of {self.root} to end")
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(f"{self.root}/")), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        if self.owner is not None:
            self.owner.close()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _processes_of(root: Path) -> list[int]:
    """Processes whose command line names ``root`` (the engine's containerd and shims)."""
    return [pid for pid in _pids() if f"{root}/" in _cmdline(pid)]


def _children(parent: int) -> list[int]:
    found = []
    for pid in _pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(pid)
    return found


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def tls_files(folder: Path, ca: str, cert: str, key: str) -> dict[str, str]:
    return {"ca_cert": str(folder / ca), "client_cert": str(folder / cert), "client_key": str(folder / key)}


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, capture_output=True, check=True)


def make_ca(folder: Path, name: str = "ca") -> None:
    """A throwaway certificate authority: ``{name}.pem`` and ``{name}-key.pem`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        folder,
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", f"{name}-key.pem", "-out", f"{name}.pem", "-days", "1", "-subj", f"/CN=aar-test-{name}"),
    )


def sign(folder: Path, name: str, usage: str, alt: str = "") -> None:
    """``{name}.pem`` and ``{name}-key.pem`` signed by ``folder``'s ``ca`` for ``usage`` (serverAuth, clientAuth)."""
    _openssl(
        folder,
        *("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", f"{name}-key.pem", "-out", f"{name}.csr", "-subj", f"/CN=aar-test-{name}"),
    )
    (folder / f"{name}.ext").write_text(f"extendedKeyUsage={usage}\n" + (f"subjectAltName={alt}\n" if alt else ""))
    _openssl(
        folder,
        *("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial"),
        *("-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext"),
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_tail(root: Path, lines: int = 5) -> str:
    """The last lines of the engine's log, in one line: why it would not start."""
    try:
        text = (root / "dockerd.log").read_text(errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:]) or "(empty log)"


def _reap_stale() -> None:
    """Remove the engines of sessions that were killed before their cleanup ran: a folder whose owner lock
    nobody holds any more. An engine of a live session (its owner holds the lock) is left alone."""
    for root in Path("/tmp").glob(f"{PREFIX}*"):
        lock = root / "owner.lock"
        if not root.is_dir() or not lock.exists():
            continue
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live session's engine
        Engine(root, None).remove()


def start_engine(*, hiding: Path | None = None, tls: bool = False) -> Engine:
    """A fresh engine with the minimal image; skips the test, with the reason, where it cannot have one.

    ``hiding``: a folder this engine sees as an empty one (it runs in its own mount namespace with a tmpfs
    there), as a node that does not mount the run's shared storage would. ``tls``: it also listens on
    ``tcp://127.0.0.1:PORT`` with ``--tlsverify`` (a CA, a server and a client certificate made here).
    Whatever fails, no engine and no folder of it is left behind."""
    if os.environ.get("AAR_TEST_NO_DOCKER") == "1":
        pytest.skip("AAR_TEST_NO_DOCKER=1: no Docker engine in this environment")
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        pytest.skip("dockerd is not installed: no second Docker engine to place sandboxes on")
    if os.geteuid() != 0:
        pytest.skip("a second dockerd needs root")
    if tls and shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificates for a TLS engine")
    _reap_stale()
    root = Path(tempfile.mkdtemp(prefix=PREFIX, dir="/tmp"))
    engine = Engine(root, None)
    try:
        _launch(engine, dockerd, hiding=hiding, tls=tls)
    except BaseException:
        engine.remove()
        raise
    return engine


def _launch(engine: Engine, dockerd: str, *, hiding: Path | None, tls: bool) -> None:
    """Start ``engine``'s dockerd and import the image; skips (the log's tail said) where it will not start."""
    import docker
    import docker.errors

    root = engine.root
    engine.owner = (root / "owner.lock").open("w")
    fcntl.flock(engine.owner, fcntl.LOCK_EX)
    (root / "daemon.json").write_text("{}")
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
    if tls:
        certs = root / "certs"
        make_ca(certs)
        sign(certs, "server", "serverAuth", "IP:127.0.0.1")
        sign(certs, "client", "clientAuth")
        (certs / "client.pem").rename(certs / "cert.pem")
        (certs / "client-key.pem").rename(certs / "key.pem")
        engine.tcp_url = f"tcp://127.0.0.1:{_free_port()}"
        argv += [f"--host={engine.tcp_url}", "--tlsverify", f"--tlscacert={certs}/ca.pem"]
        argv += [f"--tlscert={certs}/server.pem", f"--tlskey={certs}/server-key.pem"]
    if hiding is not None:
        hide = f'mount -t tmpfs aar-hidden "{hiding}" && exec "$0" "$@"'
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, *argv]
    with (root / "dockerd.log").open("wb") as log:  # the child keeps its own copy of the handle
        try:
            engine.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            pytest.skip(f"a second dockerd cannot start here: {exc}")

    def answers() -> docker.DockerClient | None:
        assert engine.process is not None
        if engine.process.poll() is not None:
            pytest.skip(f"a second dockerd cannot run here (it exited): {_log_tail(root)}")
        try:
            client = docker.DockerClient(base_url=engine.url, timeout=10)
            client.ping()
            return client
        except docker.errors.DockerException:
            return None

    try:
        client = eventually_sync(answers, timeout=START_TIMEOUT_S, what="the second dockerd to answer")
    except AssertionError:
        pytest.skip(f"a second dockerd did not answer within {START_TIMEOUT_S} s: {_log_tail(root)}")
    try:
        ensure_minimal_image(client, engine.image)
    except Exception as exc:
        pytest.skip(f"a second dockerd cannot take the minimal image ({exc}): {_log_tail(root)}")
    finally:
        client.close()


@pytest.fixture(scope="session")
def second_engine() -> Iterator[Engine]:
    """A second Docker engine for the whole session, on its own socket, with the minimal image."""
    engine = start_engine()
    try:
        yield engine
    finally:
        engine.remove()
