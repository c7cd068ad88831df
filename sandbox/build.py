"""``aar sandbox build``: build the default Docker image agents run in.

The build context is assembled in a temporary folder from the Dockerfile and
aar's packages only; the repository itself (runs with held-out labels, the
venv, git history) is never sent to the engine. Building needs a registry
for the Python base image and the torch wheel; offline, use
``sandbox.minimal_image`` for tests or point ``sandbox.image`` at an image
you have.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aar sandbox build", description="Build the default sandbox image.")
    parser.add_argument("--tag", default=SandboxConfig().image, help="image tag (default: %(default)s)")
    parser.add_argument("--python", default="3.11", help="Python version of the base image (default: %(default)s)")
    parser.add_argument(
        "--torch-index",
        default="https://download.pytorch.org/whl/cpu",
        help="pip index for torch (default: the CPU wheels)",
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
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
        print(
            f"building {args.tag} from {DOCKERFILE} (python {args.python}, torch from {args.torch_index})", flush=True
        )
        try:
            for chunk in client.api.build(
                path=str(context),
                tag=args.tag,
                rm=True,
                decode=True,
                buildargs={"PYTHON_VERSION": args.python, "TORCH_INDEX": args.torch_index},
            ):
                if "stream" in chunk:
                    sys.stdout.write(chunk["stream"])
                    sys.stdout.flush()
                elif "error" in chunk:
                    raise AarError(f"image build failed: {chunk['error'].strip()}")
        except docker.errors.APIError as exc:
            raise AarError(f"image build failed: {exc.explanation or exc}") from None
    print(f"built {args.tag}")
    return 0
