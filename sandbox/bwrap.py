"""The bubblewrap command line of a local sandbox: what it sees, and nothing more.

The sandbox gets its own user, pid, network, ipc and uts namespaces and a
fresh root built from an allow-list: the system folders and aar's Python
(interpreter, venv, the aar packages) read-only, a private /tmp, a minimal
/dev, and the agent's workspace read-write at ``/workspace``. Nothing else of
the host is there: not /root or /home (credentials), not /run (the Docker
socket), and not the run folder (``run.db``, ``evaluator/``), which is masked
even where it sits inside a folder that is bound (``/dev`` of a GPU sandbox, whose ``/dev/shm`` is its own).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sandbox.files import INSIDE_ROOT

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
AAR_PACKAGES = ("aar", "agents", "sandbox", "evaluator")


@functools.cache
def bwrap_path() -> str | None:
    """The ``bwrap`` binary if it is installed and can make namespaces here (some hosts forbid them)."""
    found = shutil.which("bwrap")
    if found is None:
        return None
    probe = [found, "--unshare-all", "--die-with-parent", *_system_binds(), "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, check=False, env={})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if done.returncode == 0 else None


def _system_binds() -> list[str]:
    args: list[str] = []
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    return args


def python_roots() -> list[str]:
    """Folders the sandbox needs to run aar's interpreter with aar importable, outermost only."""
    roots = {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for package in AAR_PACKAGES:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            roots.add(os.path.realpath(location))
    covered = [r for r in roots if not any(r.startswith(d.rstrip("/") + "/") for d in SYSTEM_DIRS)]
    return sorted(r for r in covered if not any(r != o and r.startswith(o.rstrip("/") + "/") for o in covered))


def package_parents() -> list[str]:
    """The folders that hold aar's packages where this process imported them (a checkout on ``PYTHONPATH`` too).

    Set as the sandbox's ``PYTHONPATH``: an editable install's finder points at the folder it was installed
    from, which the sandbox does not bind when this process runs another checkout."""
    parents = []
    for package in AAR_PACKAGES:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            parents.append(os.path.dirname(os.path.realpath(location)))
    return list(dict.fromkeys(parents))


def run_root_of(workspace: Path) -> Path | None:
    """``runs/<id>/`` when ``workspace`` is ``runs/<id>/workspaces/<agent>``, else None."""
    ws = workspace.resolve()
    if ws.parent.name == "workspaces" and len(ws.parents) >= 2:
        return ws.parent.parent
    return None


def bwrap_argv(
    bwrap: str,
    workspace: Path,
    argv: list[str],
    *,
    cwd: str,
    network: bool = False,
    gpus: str = "none",
) -> list[str]:
    """The full ``bwrap ... -- argv`` command line."""
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox"]
    if network:
        args.append("--share-net")
    args += _system_binds()
    # The private /tmp comes before aar's Python: a checkout or venv under /tmp must stay visible.
    args += ["--tmpfs", "/tmp"]
    roots = python_roots()
    for root in roots:
        args += ["--ro-bind", root, root]
    args += ["--proc", "/proc"]
    if gpus == "none":
        args += ["--dev", "/dev"]
    else:  # GPU drivers need the real device nodes and /sys; not the host's shared memory (Ray's object store,
        # a Ray node's job copies where TMPDIR is /dev/shm, another process's files): a private /dev/shm
        args += ["--dev-bind", "/dev", "/dev", "--tmpfs", "/dev/shm", "--ro-bind", "/sys", "/sys"]
    run_root = run_root_of(workspace)
    bound = [*roots, *(["/dev"] if gpus != "none" else [])]
    if run_root is not None and any(str(run_root).startswith(r.rstrip("/") + "/") for r in bound):
        args += ["--tmpfs", str(run_root)]
    args += ["--setenv", "PYTHONPATH", ":".join(package_parents())]
    args += ["--bind", str(workspace.resolve()), INSIDE_ROOT, "--chdir", cwd, "--"]
    return args + argv
