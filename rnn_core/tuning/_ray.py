"""Starting and ending the driver's Ray connection so that trials start and sweeps end fast."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import ray

# What Ray preloads in every Python worker a local instance starts (a raylet setting): torch
# and the trial code, ~1.5 s per worker, imported while the driver is still setting up. A task
# with a trial function of its own preloads that instead (``preload_modules``): no torch, whose
# ~300 MB per worker 64 workers cannot afford.
PRELOAD = "rnn_core.tuning._trial"
_PRELOAD_ENV = "RAY_preload_python_modules"
_set_here: set[str] = set()  # the values this module put there (a user's own is kept)


def preload_modules(task) -> str:
    """What a sweep of ``task`` has its local workers import when they start."""
    if task.trial is None:
        return PRELOAD
    return ",".join(("rnn_core.tuning._task_trial", task.trial.partition(":")[0]))


def _export_project_path() -> None:
    """Let local Ray workers import this project even when it is run from a checkout."""
    root = str(Path(__file__).resolve().parents[2])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])


def connect(address: str | None, preload: str = PRELOAD, num_cpus: int | None = None) -> None:
    """Start a local Ray instance (``address`` None) with ``num_cpus`` logical CPUs (None: the
    machine's) whose workers import ``preload`` when they start, or join a running cluster."""
    if ray.is_initialized():
        return
    from rnn_core.tuning._compat_ray import lean_local_instance, share_prestarted_workers

    _export_project_path()
    # the prestarted workers (one per CPU) have imported torch and the trial code by the time
    # the first trials start; Tune's default runtime env would keep trial actors out of them
    # and make each sweep wait ~2 s for new workers
    share_prestarted_workers()
    # A reused worker starts its next trial once the last one's thread has ended, within
    # Ray's 2 s by default, else the new trial fails; Ray runs its workers niced, and on a
    # machine busy with other work that thread can take longer to be scheduled and end.
    os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", "60")
    if os.environ.get(_PRELOAD_ENV) in (None, *_set_here):
        os.environ[_PRELOAD_ENV] = preload
        _set_here.add(preload)
    # a local instance without the API server (which ray.init waits for), the autoscaler's
    # monitor and the log monitor: three processes importing Ray beside the trials' workers
    # (docs/performance.md); for Ray's dashboard, `ray start --head` and join it (--address)
    with lean_local_instance():
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False, **({"num_cpus": num_cpus} if address is None and num_cpus
                                         else {}))


def alive_nodes() -> int:
    """The nodes of the connected cluster that are up."""
    return sum(1 for node in ray.nodes() if node.get("Alive"))


def owns_instance() -> bool:
    """Whether this process started the Ray instance it is connected to."""
    from rnn_core.tuning._compat_ray import started_local_instance

    return started_local_instance()


def leave() -> None:
    """Before the process exits: disconnect from a cluster; leave a local instance running.

    A local instance's processes (GCS, raylet, log monitor, ...) are started with the kernel
    set to kill them when this process dies (Ray's fate sharing), and its workers exit with
    their raylet. ``ray.shutdown()`` stops them one after another with a grace second each:
    1-1.5 s of every sweep's wall, for processes that are about to be killed anyway.
    """
    if ray.is_initialized() and not owns_instance():
        ray.shutdown()
