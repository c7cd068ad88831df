"""The root fallback of the ``local`` backend: no bubblewrap, so commands run as an unprivileged user.

A daemon running as root with neither bubblewrap nor Docker (a run that opted
in with ``sandbox.isolation = "none-allowed"``) must not run an agent's code
as root with the host's files. Its commands run as uid/gid 65534 (``nobody``,
present on every Linux) through ``setpriv``, the workspace is given to that
user, and the run folder is closed to it: only ``workspaces/`` can be passed
through (not listed), and ``run.db``, ``evaluator/`` (held-out labels),
``logs/`` and the config keep owner-only permissions.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sandbox.base import SandboxError

SANDBOX_UID = 65534
SANDBOX_GID = 65534
PASS_THROUGH = 0o711
"""Owner: everything; others: may pass through to a folder they know the name of, never list it."""


def wanted() -> bool:
    """True when commands without bubblewrap must drop to the unprivileged user (the daemon is root)."""
    return os.geteuid() == 0


def setpriv_args(setpriv: str) -> list[str]:
    """``setpriv`` switching to the sandbox user before exec (no supplementary groups, no new privileges)."""
    return [
        setpriv,
        f"--reuid={SANDBOX_UID}",
        f"--regid={SANDBOX_GID}",
        "--clear-groups",
        "--no-new-privs",
    ]


def drop_privileges() -> None:
    """The same switch in a ``preexec_fn`` (where util-linux ``setpriv`` is missing)."""
    os.setgroups([])
    os.setgid(SANDBOX_GID)
    os.setuid(SANDBOX_UID)


def close_run_folder(run_root: Path) -> None:
    """Owner-only permissions on everything of ``runs/<id>/`` but ``workspaces/``, which others may only pass."""
    run_root.chmod(PASS_THROUGH)
    for entry in run_root.iterdir():
        if entry.is_symlink():
            continue
        if entry.name == "workspaces":
            entry.chmod(PASS_THROUGH)
            continue
        mode = entry.stat().st_mode
        entry.chmod(stat.S_IMODE(mode) & 0o700)


def closed_folder(path: Path) -> Path | None:
    """The first folder above ``path`` (or ``path`` itself, a folder) that others may not pass, if any."""
    path = path.resolve()
    for folder in [*reversed(path.parents), *([path] if path.is_dir() else [])]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            return folder
    return None


def check_reachable(workspace: Path) -> None:
    """Every folder above ``workspace`` must let the sandbox user pass, or no command can start there."""
    closed = closed_folder(workspace.parent)
    if closed is not None:
        raise SandboxError(
            f"{closed} cannot be passed by the sandbox user (uid {SANDBOX_UID}): `chmod o+x {closed}`, "
            "put the run elsewhere, or install bubblewrap"
        )


def python_note(roots: list[str]) -> str:
    """A warning when aar's Python is out of the sandbox user's reach (a pyenv under /root, say); else ''."""
    for root in roots:
        closed = closed_folder(Path(root))
        if closed is not None:
            return (
                f"; aar's Python under {root} is not reachable by uid {SANDBOX_UID} ({closed} is closed), "
                "so `python` fails here: install bubblewrap, or Python where others can run it"
            )
    return ""
