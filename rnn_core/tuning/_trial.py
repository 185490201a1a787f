"""What runs inside a Ray trial's worker process: train one config, checkpoint every epoch.

Imported by Ray workers only (local workers preload it when they start, see ``_ray.connect``);
the driver reaches it through ``_scheduling.trial_fn`` and never imports torch.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray import tune

from rnn_core import training
from rnn_core.checkpoints import load_checkpoint
from rnn_core.devices import pick_device
from rnn_core.tasks import task_of
from rnn_core.tuning._tracking import TEST_OUTPUTS


def run_trial(config: dict, data: Any) -> None:
    """One Ray trial: resume from the trial's last checkpoint if any, checkpoint every epoch.

    A checkpoint holds ``state.pt`` (model, optimizer, RNG states, epoch: to resume) and
    ``best.pt`` (the best-on-validation state_dict + config: what MLflow keeps, and the best
    state a resumed trial continues with; kept once, not in both files). Both load with
    ``torch.load(..., weights_only=True)``.
    """
    import ray

    state = None
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            state = load_checkpoint(Path(d) / "state.pt")
            state["best_state"] = load_checkpoint(Path(d) / "best.pt")["state_dict"]
    node_id = ray.get_runtime_context().get_node_id()
    config = {**config, "device": str(pick_device(float(config.get("gpus", 0))))}

    def report(metrics: dict, st: dict) -> None:
        with tempfile.TemporaryDirectory() as d:
            torch.save({k: v for k, v in st.items()
                        if k not in ("improved", "best_state", "test_outputs")},
                       Path(d) / "state.pt")
            if st.get("test_outputs"):  # the last epoch's, per test example
                np.savez_compressed(Path(d) / TEST_OUTPUTS, **st["test_outputs"])
            torch.save({"state_dict": st["best_state"], "config": st["config"],
                        "model_config": st["model_config"]}, Path(d) / "best.pt")
            (Path(d) / "config.json").write_text(json.dumps(st["config"], indent=1))
            tune.report({**metrics, "node_id": node_id},
                        checkpoint=tune.Checkpoint.from_directory(d))

    try:
        training.train(task_of(config), config, data, report, state)
    finally:
        release_gpu_memory()


def release_gpu_memory() -> None:
    """Return the CUDA memory this trial's tensors left in torch's cache. Ray reuses a worker
    for the next trial, and trials that share a GPU (``--gpus-per-trial 0.25``) would each keep
    the cache of their largest model otherwise."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        import gc

        gc.collect()
        torch.cuda.empty_cache()
