"""One training loop for every task: ``config dict -> per-epoch metrics``.

The trial config is a flat dict of primitives (what Ray Tune and MLflow see). It is parsed
once: the loop's own settings into a typed ``TrainConfig``, the rest by the task's trainer
(``rnn_core.tasks``), which builds the model and runs a training epoch and an evaluation pass.
Each epoch reports that epoch's metrics (not running means) so schedulers compare like with
like. The best-on-validation state (by the task's objective and direction) is kept in memory
and the test split is touched once, at the end, by that best state.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from rnn_core.errors import ConfigError, TrainingDiverged, TrialOutOfMemory
from rnn_core.memory import release_memory
from rnn_core.models import count_parameters
from rnn_core.stats import wilson

__all__ = ["LOOP_DEFAULTS", "OPTIMIZERS", "LoopTask", "TaskTrainer", "TrainConfig",
           "TrainingDiverged", "TrialOutOfMemory", "accuracy_intervals", "resolve",
           "seed_everything", "train"]

log = logging.getLogger(__name__)

# The loop's settings; a task's trainer adds its model and data keys and may change these
# (``TaskTrainer.DEFAULTS``), and every key can be overridden by the trial config.
LOOP_DEFAULTS: dict[str, Any] = {
    "optimizer": "rmsprop", "lr": 1e-3, "weight_decay": 0.0,
    "batch_size": 64, "eval_batch_size": 256, "grad_clip": 5.0, "max_epochs": 5, "seed": 0,
    "threads": 1, "device": "cpu",
    # fp32, or bf16 / fp16 autocast (rnn_core.precision; the driver resolves "auto")
    "precision": "fp32",
    # learning rate lr * lr_decay ** max(0, epoch - lr_decay_start) (Zaremba et al. 2014);
    # 1.0 keeps it constant
    "lr_decay": 1.0, "lr_decay_start": 0,
    # also evaluate the current model on test after every epoch (``epoch_test_*``): for
    # recording tabular benchmarks (bench/search.py), never for picking a model
    "test_every_epoch": False,
}

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
}




@dataclass(frozen=True)
class TrainConfig:
    """The loop's settings, parsed once from the flat trial config."""

    optimizer: str
    lr: float
    weight_decay: float
    batch_size: int
    eval_batch_size: int
    grad_clip: float
    max_epochs: int
    seed: int
    threads: int
    device: str
    precision: str
    lr_decay: float
    lr_decay_start: int
    test_every_epoch: bool

    @classmethod
    def from_dict(cls, cfg: dict) -> TrainConfig:
        kinds = {"optimizer": str, "device": str, "precision": str, "lr": float,
                 "weight_decay": float, "grad_clip": float, "lr_decay": float,
                 "test_every_epoch": bool}
        values = {f.name: kinds.get(f.name, int)(cfg[f.name] or 0) for f in fields(cls)}
        if values["precision"] not in ("fp32", "bf16", "fp16"):
            raise ConfigError(f"precision {values['precision']!r} is not fp32, bf16 or fp16")
        if values["optimizer"] not in OPTIMIZERS:
            raise ConfigError(f"optimizer {values['optimizer']!r} is not one of "
                              f"{', '.join(OPTIMIZERS)}")
        return cls(**values)

    def lr_at(self, epoch: int) -> float:
        return self.lr * self.lr_decay ** max(0, epoch - self.lr_decay_start)


class LoopTask(Protocol):
    """What the loop needs of a task (``rnn_core.tasks.Task`` has it): the loop knows no task
    by name, its caller hands it one."""

    name: str
    objective: str
    measure: str
    best_metric: str

    def better(self, a: float, b: float | None) -> bool: ...

    def load_trainer(self) -> type: ...


class TaskTrainer(Protocol):
    """The torch side of a task (``Task.trainer``), built once per trial.

    ``__init__(config, data)`` parses the task's keys of the resolved ``config`` (no random
    draws: the loop seeds after it). ``config`` is the resolved dict kept in checkpoints;
    ``extra_metrics`` are reported every epoch beside the loop's.
    """

    DEFAULTS: dict[str, Any]
    config: dict
    extra_metrics: dict[str, float]

    def __init__(self, config: dict, data: Any) -> None: ...

    def setup(self, device: torch.device) -> None:
        """Pick the splits a trial uses (seeded subsets) once the loop has seeded."""

    def build_model(self) -> nn.Module:
        """The model (with ``.cfg.to_dict()``: saved beside every checkpoint)."""

    def train_epoch(self, model: nn.Module, opt: torch.optim.Optimizer,
                    rng: np.random.Generator, epoch: int) -> tuple[dict[str, float], int]:
        """One pass over the training split: ({"loss", ...}, tokens trained on)."""

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """{"loss", <the task's measure>, ...} over a whole split (``val`` or ``test``)."""

    # Optional: ``test_outputs(model) -> {name: array}``, one value per test example in a
    # fixed order (``correct``/``predicted``/``label`` of a classifier, ``nll``/``tokens`` per
    # sentence of a language model), saved with the trial so that two trials of a study can
    # be compared example by example (``rnn_core.stats``: McNemar, paired bootstrap).


def accuracy_intervals(metrics: dict[str, float]) -> dict[str, float]:
    """Wilson 95 % bounds of every proportion a test evaluation reports with its count: an
    accuracy with its example count (``acc`` with ``n``, ``human_acc`` with ``human_n``) and a
    class's recall with the class's support (``recall_one`` with ``support_one``), as
    ``<key>_ci_low`` and ``<key>_ci_high``.

    From the trainer's own count, so a figure logged without one gets no interval rather than
    a made-up one."""
    out = {}
    for key, value in metrics.items():
        if key.endswith("acc"):
            n = metrics.get(key[:-len("acc")] + "n")
        elif "recall_" in key and not key.endswith(("_ci_low", "_ci_high")):
            n = metrics.get(key.replace("recall_", "support_", 1))
        else:
            continue
        if n is None or not n > 0 or not math.isfinite(value):
            continue
        iv = wilson(round(value * n), int(n))
        out[f"{key}_ci_low"], out[f"{key}_ci_high"] = iv.low, iv.high
    return out


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and torch (every CUDA device included: ``torch.manual_seed``)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_deterministic(device: torch.device) -> None:
    """The switches that make a CUDA trial repeat itself: cuDNN's deterministic kernels and no
    autotuning (which picks kernels by timing), and cuBLAS's fixed workspace, which must be
    set before cuBLAS starts. The CPU kernels used here are deterministic already."""
    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def rng_states(device: torch.device) -> dict:
    """The torch RNG streams a checkpoint carries: the CPU one, and every CUDA device's
    (dropout on a GPU draws from those), so a paused trial resumes the same streams."""
    states = {"torch_rng": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda_rng"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch_rng"])
    if device.type == "cuda" and "cuda_rng" in state:
        cuda = list(state["cuda_rng"])
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:  # resumed on a machine with another GPU count: the first stream only
            torch.cuda.set_rng_state(cuda[0])


def resolve(task: LoopTask, config: dict, data: Any) -> tuple[TrainConfig, TaskTrainer]:
    """The loop's typed settings and ``task``'s trainer for a trial config."""
    trainer_cls = task.load_trainer()
    cfg = {**LOOP_DEFAULTS, **trainer_cls.DEFAULTS, **config, "task": task.name}
    trainer = trainer_cls(cfg, data)
    return TrainConfig.from_dict(trainer.config), trainer


def train(task: LoopTask, config: dict, data: Any,
          report: Callable[[dict, dict], None] | None = None, state: dict | None = None) -> dict:
    """Train one configuration (see ``_train``); running out of memory is a ``TrialOutOfMemory``."""
    try:
        return _train(task, config, data, report, state)
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise TrialOutOfMemory(f"out of memory: {str(exc).splitlines()[0][:300]}") from exc
    except RuntimeError as exc:
        if "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower():
            raise TrialOutOfMemory(f"out of memory: {str(exc).splitlines()[0][:300]}") from exc
        raise


def _train(task: LoopTask, config: dict, data: Any,
           report: Callable[[dict, dict], None] | None = None, state: dict | None = None) -> dict:
    """Train one configuration and return its final metrics.

    Args:
        task: what is trained (its trainer, objective and direction).
        config: flat trial config; missing keys take ``LOOP_DEFAULTS`` and the task trainer's
            ``DEFAULTS``.
        data: the task's prepared data (shared, read-only).
        report: called after every epoch with (metrics, state); ``state`` is everything needed
            to resume (model, optimizer, RNG states, epoch) plus the best-on-validation
            ``best_state``, ``config`` and ``model_config``; ``state["improved"]`` says whether
            this epoch set a new best.
        state: a ``state`` from an earlier report: training continues after its epoch.

    Returns:
        The last epoch's metrics, with the test metrics of the best-on-validation state.
    """
    tc, trainer = resolve(task, config, data)
    release_memory(collect=False)  # what an earlier trial in this reused worker left free
    torch.set_num_threads(max(1, tc.threads))
    device = torch.device(tc.device)
    make_deterministic(device)
    seed_everything(tc.seed)
    trainer.setup(device)
    model = trainer.build_model().to(device)
    n_params = count_parameters(model)
    n_trainable = count_parameters(model, trainable_only=True)
    opt = OPTIMIZERS[tc.optimizer]([p for p in model.parameters() if p.requires_grad],
                                   lr=tc.lr, weight_decay=tc.weight_decay)
    rng = np.random.default_rng(tc.seed)
    best_val, best_state, metrics, start = None, None, {}, 1
    best_loss = math.nan  # the validation loss of the best state: ties on the objective
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["numpy_rng"]
        set_rng_states(state, device)
        best_val, best_state, start = state["best_val"], state["best_state"], state["epoch"] + 1
        best_loss = state.get("best_val_loss", math.nan)
        metrics = state.get("metrics", {})
        log.info("resuming after epoch %d (best %s %.4f)", state["epoch"], task.objective,
                 best_val)
    test_outputs = None  # per-example test results, at the last epoch (``test_outputs``)
    for epoch in range(start, tc.max_epochs + 1):
        if tc.lr_decay != 1.0:
            for group in opt.param_groups:
                group["lr"] = tc.lr_at(epoch)
        model.train()
        t0 = time.perf_counter()
        train_metrics, tokens = trainer.train_epoch(model, opt, rng, epoch)
        train_seconds = time.perf_counter() - t0
        val = trainer.evaluate(model, "val")
        value = val[task.measure]
        improved = task.better(value, best_val)
        if improved:
            best_val, best_state = value, copy.deepcopy(model.state_dict())
            best_loss = float(val.get("loss", math.nan))
        metrics = {
            "epoch": epoch, **{f"train_{k}": v for k, v in train_metrics.items()},
            **{f"val_{k}": v for k, v in val.items()}, task.best_metric: best_val,
            **({"best_val_loss": best_loss} if math.isfinite(best_loss) else {}),
            "n_params": n_params, "n_trainable_params": n_trainable, **trainer.extra_metrics,
            "tokens_per_s": tokens / train_seconds,
            "epoch_seconds": time.perf_counter() - t0,
            **({"lr": tc.lr_at(epoch)} if tc.lr_decay != 1.0 else {}),
        }
        if tc.test_every_epoch:
            metrics.update({f"epoch_test_{k}": v
                            for k, v in trainer.evaluate(model, "test").items()})
        if epoch == tc.max_epochs:
            t_test = time.perf_counter()
            best_model = copy.deepcopy(model)  # no RNG draws: the training state stays as is
            best_model.load_state_dict(best_state)
            test = trainer.evaluate(best_model, "test")
            if hasattr(trainer, "test_outputs"):
                test_outputs = trainer.test_outputs(best_model)
            metrics.update({f"test_{k}": v for k, v in {**test, **accuracy_intervals(test)}
                            .items()}, test_seconds=time.perf_counter() - t_test)
        if not all(math.isfinite(v) for v in metrics.values()):
            raise TrainingDiverged(f"non-finite metrics at epoch {epoch}: {metrics}")
        if report is not None:
            report(metrics, {
                "epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "numpy_rng": rng.bit_generator.state, **rng_states(device),
                "best_val": best_val, "best_val_loss": best_loss, "best_state": best_state,
                "improved": improved,
                "metrics": metrics, "config": trainer.config,
                "model_config": model.cfg.to_dict(),
                **({"test_outputs": test_outputs} if test_outputs is not None else {})})
        # glibc keeps freed batch buffers resident otherwise (rnn_core.memory)
        release_memory(collect=False)
        log.info("epoch %d %s", epoch, {k: round(v, 4) for k, v in metrics.items()})
    return metrics
