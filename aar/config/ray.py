"""``[ray]``: the Ray cluster that runs evaluator jobs when ``evaluator.backend = "ray"``.

Each evaluator job becomes one Ray task that asks for what is set here; the daemon submits only
as many as the cluster's live nodes can run at once, so its fair queue decides what runs next.
What a job reads of the run folder travels to its node through Ray's object store unless the run folder is
shared (``run_folder``); a job whose task raises is tried again up to ``max_retries`` times.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aar.config.base import Section

ResourceName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,63}$")]


class RayConfig(Section):
    address: Annotated[str, Field(min_length=1)] = "auto"
    """The cluster: ``auto`` (the one ``ray start`` made on this machine, or ``RAY_ADDRESS``), ``host:port``
    of the head's GCS, or ``ray://host:port`` (Ray Client)."""
    num_cpus: Annotated[float, Field(ge=0, le=4096)] = 1.0
    """CPUs each job asks for."""
    num_gpus: Annotated[float, Field(ge=0, le=64)] = 0.0
    """GPUs each job asks for; the job's verification sandbox gets the GPU Ray assigned."""
    memory_mb: Annotated[int, Field(ge=0)] = 0
    """Memory each job asks for, in MiB (0: not asked for)."""
    resources: dict[ResourceName, Annotated[float, Field(gt=0)]] = {}
    """Custom resources each job asks for (``{ big_gpu = 1 }``), as the nodes declare them in ``ray start --resources``."""
    connect_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    """How long ``aar run`` and the daemon wait for the cluster to answer."""
    run_folder: Literal["object_store", "shared"] = "object_store"
    """How a job reaches the run's files: ``object_store`` (the daemon packs what a job reads, the config and
    the evaluator's bundle, feedback labels and cache, never ``run.db``, puts it once per content, and the task
    unpacks it into a private folder on its node); ``shared`` (every node mounts ``run.runs_dir`` at the same
    path, and tasks read and write the run folder itself)."""
    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    """Times a job whose task raised (an unexpected error in the job's code, or a method killed from outside
    its limits) is tried again before it fails with that error. A submission's own error (``JobError``) fails
    at once; a node lost under a job requeues it without spending a retry (a job that has lost 3 nodes fails)."""
