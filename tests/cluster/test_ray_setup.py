"""Bad Ray setups stop ``aar run`` before the run exists, each in one line that says what to fix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aar.config import RayConfig
from aar_app.cli import main
from evaluator.daemon.ray_cluster import ClusterSetupError, check_cluster
from tests.cluster.conftest import LocalCluster

pytestmark = pytest.mark.slow  # a Ray cluster, and `aar run` in a fresh Python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_run_config(tmp_path: Path, address: str, extra: str = "") -> Path:
    config = tmp_path / "cluster.toml"
    config.write_text(
        f'[run]\nruns_dir = "{tmp_path / "runs"}"\n[team]\ncount = 1\n[sandbox]\nisolation = "none-allowed"\n'
        f'[evaluator]\nbackend = "ray"\n[ray]\naddress = "{address}"\nconnect_timeout_s = 2\n{extra}'
    )
    return config


def test_an_address_that_does_not_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    assert main(["run", str(ray_run_config(tmp_path, address)), "--headless"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"aar: error: ray.address {address} does not answer (Connection refused): start the cluster there with "
        "`ray start --head`, or fix ray.address"
    ]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir()), "no run was made"


def test_a_cluster_without_what_a_job_asks_for(ray_cluster: LocalCluster) -> None:
    config = RayConfig(address=ray_cluster.address, num_gpus=1, resources={"a100": 1})
    with pytest.raises(ClusterSetupError) as caught:
        check_cluster(config)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"no node of the Ray cluster at {ray_cluster.address} has what a job asks for (")
    assert "GPU=1, a100=1" in line and "Lower [ray] or add a node" in line
    assert check_cluster(RayConfig(address=ray_cluster.address)).startswith(
        f"ray cluster {ray_cluster.address}: 2 nodes, 2 jobs at once"
    )


def test_ray_not_installed(tmp_path: Path) -> None:
    """Where ``import ray`` fails (``sys.modules["ray"] = None`` is how Python marks a module unavailable)."""
    config = ray_run_config(tmp_path, "127.0.0.1:6379")
    code = "import sys; sys.modules['ray'] = None; from aar_app.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, "run", str(config), "--headless"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RAY_ADDRESS": ""},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "aar: error: evaluator.backend = \"ray\" needs Ray, which is not installed here: pip install 'aar[ray]'"
    ]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir()), "no run was made"
