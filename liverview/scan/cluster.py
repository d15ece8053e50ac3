"""Where a scan's tasks run: Ray started inside this process on this machine (the default, no set-up), or a
running Ray cluster joined by address; and what each task asks of it (one CPU, and GPUs when it runs on CUDA).
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping

EMBEDDED_OBJECT_STORE_BYTES = 256 * 2**20  # tasks pass paths and small results: a small object store will do


class ScanSetupError(ValueError):
    """The scan cannot start as asked (no Ray, no GPU for --device cuda, a bad option); the message says why."""


@dataclass(frozen=True)
class TaskResources:
    """What each study's task asks Ray for, the device its models use, and how many run at once."""

    num_cpus: float
    num_gpus: float
    device: str  # "cpu" or "cuda" (Ray gives each GPU task its own CUDA_VISIBLE_DEVICES)
    slots: int  # tasks the cluster can run at the same time

    def describe(self) -> str:
        gpu = f", {self.num_gpus:g} GPU" if self.num_gpus else ""
        return f"{self.slots} at a time, each {self.num_cpus:g} CPU{gpu} on {self.device}"


def task_resources(device: str, gpus_per_task: float, workers: int | None,
                   cluster: Mapping[str, float]) -> TaskResources:
    """Decide what a task asks for, given the cluster's total resources (``ray.cluster_resources()``).

    ``device`` "auto" runs on CUDA when the cluster has GPUs, "cuda" requires them, "cpu" never uses them.
    ``workers`` caps how many tasks run at once (None: as many as the cluster's CPUs, or GPUs, allow).
    """
    if gpus_per_task <= 0:
        raise ScanSetupError(f"--gpus-per-task {gpus_per_task:g}: give a positive number (e.g. 1, or 0.5 to "
                             "share a GPU between two tasks)")
    if workers is not None and workers < 1:
        raise ScanSetupError(f"--workers {workers}: give at least 1")
    name = device.strip().lower()
    cpus = float(cluster.get("CPU", 0.0))
    gpus = float(cluster.get("GPU", 0.0))
    if name == "auto":
        use_gpu = gpus > 0
    elif name == "cpu":
        use_gpu = False
    elif name == "cuda" or name.startswith("cuda:"):
        if gpus <= 0:
            raise ScanSetupError(f"--device {device}: the Ray cluster has no GPU; use --device cpu or auto, or "
                                 "start Ray on machines with GPUs")
        use_gpu = True
    else:
        raise ScanSetupError(f"unknown device '{device}': use auto, cpu or cuda (Ray assigns each task its GPU)")
    if cpus < 1:
        raise ScanSetupError(f"the Ray cluster has {cpus:g} CPUs: a study's task needs one")
    slots = math.floor(cpus)
    if use_gpu:
        if gpus_per_task > gpus:
            raise ScanSetupError(f"--gpus-per-task {gpus_per_task:g} is more than the cluster's {gpus:g} GPUs")
        slots = min(slots, math.floor(gpus / gpus_per_task + 1e-9))
    if workers is not None:
        slots = min(slots, workers)
    return TaskResources(1.0, gpus_per_task if use_gpu else 0.0, "cuda" if use_gpu else "cpu", max(1, slots))


@contextmanager
def ray_session(address: str | None, workers: int) -> Iterator[dict[str, float]]:
    """Start Ray in this process with ``workers`` CPUs (``address`` None), or join the cluster at ``address``
    ("auto": the one started on this machine by `ray start`); yields the cluster's resources. Ray is shut
    down (the embedded one stopped, a cluster only left) on the way out."""
    try:
        import ray
    except ImportError as exc:
        raise ScanSetupError(f"Ray is not installed ({exc}): pip install 'ray>=2.40,<3'") from None
    if ray.is_initialized():
        raise ScanSetupError("Ray is already running in this process; a scan starts and stops its own")
    common = dict(log_to_driver=False, logging_level=logging.WARNING, configure_logging=True)
    try:
        if address:
            ray.init(address=address, **common)
        else:
            # "local": always a new instance of our own, even when `ray start` left one running on this machine
            ray.init(address="local", num_cpus=workers, include_dashboard=False,
                     object_store_memory=EMBEDDED_OBJECT_STORE_BYTES, **common)
    except ConnectionError as exc:
        raise ScanSetupError(f"cannot reach a Ray cluster at --address {address}: {exc}. Start one with "
                             "`ray start --head`, or leave --address out to run on this machine") from None
    try:
        yield dict(ray.cluster_resources())
    finally:
        ray.shutdown()
