"""Starting and ending the driver's Ray connection so that trials start and sweeps end fast."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import ray

# What Ray preloads in every Python worker a local instance starts (a raylet setting): torch
# and the trial code, ~1.5 s per worker, imported while the driver is still setting up.
PRELOAD = "rnn_core.tuning._trial"


def _export_project_path() -> None:
    """Let local Ray workers import this project even when it is run from a checkout."""
    root = str(Path(__file__).resolve().parents[2])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])


def _share_prestarted_workers() -> None:
    """Let trial actors run in the workers a Ray instance starts up front (one per CPU).

    Tune gives every trainable the runtime env ``{"env_vars": {"PL_DISABLE_FORK": "1"}}`` (a
    PyTorch Lightning switch), and Ray hands an actor only a worker started with the same
    env: the prestarted workers sat idle while each sweep waited ~2 s for new ones to start
    and import torch. Without that variable the env is empty, and the first trials start in
    the prestarted workers, which have imported torch and the trial code by then.
    """
    from ray.tune.execution import class_cache

    class_cache.DEFAULT_ENV_VARS.pop("PL_DISABLE_FORK", None)


def connect(address: str | None) -> None:
    """Start a local Ray instance (``address`` None) or join a running cluster."""
    if ray.is_initialized():
        return
    _export_project_path()
    _share_prestarted_workers()
    os.environ.setdefault("RAY_preload_python_modules", PRELOAD)
    ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False)


def owns_instance() -> bool:
    """Whether this process started the Ray instance it is connected to."""
    node = getattr(ray._private.worker, "_global_node", None)
    return bool(ray.is_initialized() and node is not None and node.head)


def leave() -> None:
    """Before the process exits: disconnect from a cluster; leave a local instance running.

    A local instance's processes (GCS, raylet, log monitor, ...) are started with the kernel
    set to kill them when this process dies (Ray's fate sharing), and its workers exit with
    their raylet. ``ray.shutdown()`` stops them one after another with a grace second each:
    1-1.5 s of every sweep's wall, for processes that are about to be killed anyway.
    """
    if ray.is_initialized() and not owns_instance():
        ray.shutdown()
