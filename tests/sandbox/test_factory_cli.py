"""Choosing a backend, ``aar exec`` and the image build context."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from aar.config import RunConfig, SandboxConfig
from aar.errors import AarError
from aar.runtime import RunPaths
from sandbox import factory
from sandbox.build import make_context
from sandbox.cli import exec_in_run
from sandbox.docker_backend import DockerSandbox
from sandbox.local import LocalSandbox


def test_auto_picks_docker_when_engine_and_image_are_there(tmp_path: Path, docker_image: str) -> None:
    assert factory.docker_available()
    box = factory.create_sandbox(SandboxConfig(image=docker_image), name="a", workspace=tmp_path)
    assert isinstance(box, DockerSandbox)
    local = factory.create_sandbox(SandboxConfig(image="aar-no-such-image:never"), name="a", workspace=tmp_path)
    assert isinstance(local, LocalSandbox)
    explicit = factory.create_sandbox(SandboxConfig(backend="local", image=docker_image), name="a", workspace=tmp_path)
    assert isinstance(explicit, LocalSandbox)


def _run(tmp_path: Path, **sandbox: object) -> tuple[RunPaths, RunConfig]:
    paths = RunPaths(tmp_path / "runs" / "r-1")
    paths.make()
    paths.workspace("agent-1").mkdir()
    config = RunConfig.model_validate({"team": {"count": 2}, "sandbox": sandbox})
    return paths, config


async def test_exec_in_run_streams_to_the_terminal_and_returns_the_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths, config = _run(tmp_path, backend="local")
    (paths.workspace("agent-1") / "hello.txt").write_text("hi there\n")
    code = await exec_in_run(paths, config, "agent-1", ["bash", "-c", "cat hello.txt; echo oops >&2; exit 7"])
    out, err = capsys.readouterr()
    assert code == 7 and out == "hi there\n" and err == "oops\n"


async def test_exec_in_run_rejects_an_unknown_agent(tmp_path: Path) -> None:
    paths, config = _run(tmp_path, backend="local")
    with pytest.raises(AarError, match=r"no agent 'nobody'.*agent-1, agent-2"):
        await exec_in_run(paths, config, "nobody", ["true"])
    with pytest.raises(AarError, match="no workspace"):
        await exec_in_run(paths, config, "agent-2", ["true"])


async def test_exec_in_run_joins_the_agents_container_and_leaves_it_up(
    tmp_path: Path, docker_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    paths, config = _run(tmp_path, backend="docker", image=docker_image)
    agent = DockerSandbox(config.sandbox, name="agent-1", workspace=paths.workspace("agent-1"))
    try:
        await agent.exec("echo from-agent > mark")
        assert await exec_in_run(paths, config, "agent-1", ["cat", "mark"]) == 0
        assert capsys.readouterr().out == "from-agent\n"
        assert docker.from_env().containers.get(agent.container_name).status == "running"
    finally:
        await agent.stop()


def test_build_context_holds_only_the_dockerfile_and_source(tmp_path: Path) -> None:
    context = make_context(tmp_path / "ctx")
    assert (context / "Dockerfile").read_text().startswith("# The sandbox image")
    top = sorted(p.name for p in (context / "src").iterdir())
    assert top == ["README.md", "aar", "agents", "evaluator", "pyproject.toml", "sandbox"]
    assert not list(context.rglob("run.db")) and not list(context.rglob("__pycache__"))
    assert (context / "src" / "evaluator" / "compute" / "run_method.py").is_file()


def test_one_image_runs_both_tasks_and_gpu_takes_cuda_wheels() -> None:
    from sandbox.build import CPU_TORCH, GPU_TAG, GPU_TORCH, plan

    dockerfile = (Path(__file__).parents[2] / "sandbox" / "image" / "Dockerfile").read_text()
    # The CPU image has transformers too: a jsonl method runs in it (the hf extra: transformers, peft, safetensors).
    assert 'pip install "/opt/aar[hf]"' in dockerfile and '--index-url "${TORCH_INDEX}" torch' in dockerfile
    cpu, gpu = plan([]), plan(["--gpu"])
    assert (cpu.tag, cpu.build_args["TORCH_INDEX"]) == ("aar-sandbox:latest", CPU_TORCH)
    assert (gpu.tag, gpu.build_args["TORCH_INDEX"]) == (GPU_TAG, GPU_TORCH)
    assert GPU_TORCH.startswith("https://download.pytorch.org/whl/cu")
    mine = plan(["--gpu", "--tag", "lab/aar:1", "--torch-index", "https://mirror/whl/cu126", "--python", "3.12"])
    assert mine.tag == "lab/aar:1" and mine.build_args == {
        "PYTHON_VERSION": "3.12",
        "TORCH_INDEX": "https://mirror/whl/cu126",
    }


def test_build_context_and_command_for_an_offline_box(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``aar sandbox build --gpu --context DIR`` writes what the engine would get and prints how to build it."""
    from aar_app.cli import main
    from sandbox.build import GPU_TORCH

    assert main(["sandbox", "build", "--gpu", "--context", str(tmp_path / "ctx")]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line == (
        f"docker build --tag aar-sandbox:gpu --build-arg PYTHON_VERSION=3.11 --build-arg TORCH_INDEX={GPU_TORCH}"
        f" {tmp_path / 'ctx'}"
    )
    assert (tmp_path / "ctx" / "Dockerfile").is_file() and (tmp_path / "ctx" / "src" / "pyproject.toml").is_file()
    assert '"peft' in (tmp_path / "ctx" / "src" / "pyproject.toml").read_text()
    assert main(["sandbox", "build", "--context", str(tmp_path / "ctx")]) == 2  # never overwrites a folder
    assert "already exists; give --context a new folder" in capsys.readouterr().err
