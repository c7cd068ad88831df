"""``aar sandbox build [--gpu]``: build the Docker image agents (and method re-runs) run in.

One image serves both tasks: torch, plus the ``hf`` extra (transformers, peft,
safetensors), so ``python -m evaluator.compute.run_method`` runs a jsonl method inside
it. ``--gpu`` takes CUDA torch wheels instead of CPU ones (the wheels carry
the CUDA runtime; the host needs the NVIDIA driver and container toolkit).

The build context is assembled in a temporary folder from the Dockerfile and
aar's packages only; the repository itself (runs with held-out labels, the
venv, git history) is never sent to the engine. Building needs a registry
for the Python base image and the torch wheel; offline, use
``sandbox.minimal_image`` for tests or point ``sandbox.image`` at an image
you have.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aar.config import SandboxConfig
from aar.errors import AarError

PACKAGES = ("aar", "agents", "sandbox", "evaluator")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
DOCKERFILE = Path(__file__).with_name("image") / "Dockerfile"


def source_root() -> Path:
    """The folder holding aar's packages and pyproject.toml."""
    return Path(__file__).resolve().parents[1]


def make_context(target: Path) -> Path:
    """Fill ``target`` with the Dockerfile and ``src/`` (pyproject + packages); return it."""
    root = source_root()
    src = target / "src"
    src.mkdir(parents=True)
    shutil.copy2(DOCKERFILE, target / "Dockerfile")
    for name in ("pyproject.toml", "README.md"):
        if (root / name).is_file():
            shutil.copy2(root / name, src / name)
    if not (src / "pyproject.toml").is_file():
        raise AarError(f"no pyproject.toml next to the aar packages in {root}; build from a source checkout")
    for package in PACKAGES:
        shutil.copytree(root / package, src / package, ignore=IGNORE)
    return target


CPU_TORCH = "https://download.pytorch.org/whl/cpu"
GPU_TORCH = "https://download.pytorch.org/whl/cu128"
GPU_TAG = "aar-sandbox:gpu"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aar sandbox build",
        description="Build the sandbox image: Python, torch, transformers, peft and safetensors, and aar's packages.",
    )
    parser.add_argument(
        "--gpu", action="store_true", help=f"CUDA torch wheels (from {GPU_TORCH}), tagged {GPU_TAG} by default"
    )
    parser.add_argument("--tag", default=None, help=f"image tag (default: {SandboxConfig().image}, or {GPU_TAG})")
    parser.add_argument("--python", default="3.11", help="Python version of the base image (default: %(default)s)")
    parser.add_argument("--torch-index", default=None, help="pip index for torch (default: CPU wheels, or CUDA 12.8)")
    parser.add_argument(
        "--context",
        type=Path,
        default=None,
        help="write the build context to this new folder and print the docker build command instead of building",
    )
    return parser


@dataclass(frozen=True)
class BuildPlan:
    tag: str
    build_args: dict[str, str]
    context: Path | None
    """Where to write the context instead of building (``--context``)."""


def plan(argv: list[str]) -> BuildPlan:
    """What ``aar sandbox build ARGV`` does: the tag, the build arguments, and ``--context`` if given."""
    args = _parser().parse_args(argv)
    torch_index = args.torch_index or (GPU_TORCH if args.gpu else CPU_TORCH)
    return BuildPlan(
        tag=args.tag or (GPU_TAG if args.gpu else SandboxConfig().image),
        build_args={"PYTHON_VERSION": args.python, "TORCH_INDEX": torch_index},
        context=args.context,
    )


def docker_build_command(tag: str, build_args: dict[str, str], context: Path) -> list[str]:
    """The ``docker build`` command line that builds the same image from ``context``."""
    command = ["docker", "build", "--tag", tag]
    for key, value in build_args.items():
        command += ["--build-arg", f"{key}={value}"]
    return [*command, str(context)]


def main(argv: list[str]) -> int:
    build = plan(argv)
    if build.context is not None:
        if build.context.exists():
            raise AarError(f"{build.context} already exists; give --context a new folder")
        context = make_context(build.context)
        print(shlex.join(docker_build_command(build.tag, build.build_args, context)))
        return 0
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:
        raise AarError(
            f'no Docker engine answers ({exc.__class__.__name__}); start dockerd, or use sandbox.backend = "local"'
        ) from None
    with tempfile.TemporaryDirectory(prefix="aar-build-") as tmp:
        context = make_context(Path(tmp))
        index = build.build_args["TORCH_INDEX"]
        print(
            f"building {build.tag} from {DOCKERFILE} (python {build.build_args['PYTHON_VERSION']}, torch from {index})",
            flush=True,
        )
        try:
            for chunk in client.api.build(
                path=str(context), tag=build.tag, rm=True, decode=True, buildargs=build.build_args
            ):
                if "stream" in chunk:
                    sys.stdout.write(chunk["stream"])
                    sys.stdout.flush()
                elif "error" in chunk:
                    raise AarError(f"image build failed: {chunk['error'].strip()}")
        except docker.errors.APIError as exc:
            raise AarError(f"image build failed: {exc.explanation or exc}") from None
    print(f"built {build.tag}")
    return 0
