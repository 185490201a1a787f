"""What every task declares: its objective, its metrics, how its data is prepared, its trainer.

Torch-free on purpose: the sweep driver reads a task's objective and metrics and prepares its
data without importing torch; the trainer (``Task.trainer``, a ``module:Class`` path) is
imported only in trial workers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Serving", "Task", "TaskOption"]


@dataclass(frozen=True)
class Serving:
    """How a task's trained model takes raw input once a sweep logs it as an MLflow model.

    Torch-free, like ``Task``: the sweep's driver writes the model (its signature, example and
    preprocessing) without importing torch; the predictor is imported where the model loads.

    Attributes:
        input: the one input column (``review``).
        outputs: ``(column, MLflow type)`` of each output column, in order.
        example: raw inputs saved as the model's input example, or ``(prepared data) ->``
            them where they depend on the data (a series' channels).
        bundle: ``(prepared data) -> dict`` (JSON-able): the vocabulary, tokenizer options and
            preprocessing the model keeps, so that loading it needs no data cache.
        predictor: ``"module:Class"``; ``Class(bundle, checkpoint)`` with
            ``predict(values) -> list[dict]`` (one row per value, keyed by ``outputs``).
    """

    input: str
    outputs: tuple[tuple[str, str], ...]
    example: tuple | Callable[[Any], tuple]
    bundle: Callable[[Any], dict]
    predictor: str

    def examples(self, data) -> tuple:
        """The raw input example of a model trained on ``data``."""
        return tuple(self.example(data) if callable(self.example) else self.example)

    def load_predictor(self) -> type:
        """The predictor class (imports torch)."""
        return _import(self.predictor)


def _import(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class TaskOption:
    """A command-line option of a task's data (``--text-column review``), for every study of
    the task. Its value goes into the sweep's fixed config under ``key``, where the task's
    ``data_options`` reads it; so it is saved with the sweep and a ``--resume`` keeps it.

    Attributes:
        flag: the option, ``--text-column``.
        key: the config key, ``text_column``.
        help: the option's help.
        type: parses the text (``str``, ``int``, ``float`` or a function raising ValueError).
        choices: the values it takes, where it is one of a few.
    """

    flag: str
    key: str
    help: str
    type: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Task:
    """One kind of learning problem, as the platform above it sees it.

    Attributes:
        name: the registry key (``rnn_core.tasks.TASKS``), also the trial config's ``task``.
        objective: the validation metric schedulers, picks and reports rank by (``val_*``).
        mode: ``"max"`` or ``"min"``: which way the objective is better.
        trainer: ``"module:Class"`` of the torch side (``rnn_core.training.TaskTrainer``).
        prepare: ``(data_path, seed, options) -> (data, info)``, run once on the driver;
            ``data`` ships to trials through Ray's object store, ``info`` (flat, JSON-able)
            is logged on the sweep's parent run.
        data_options: ``(grid, base_config) -> options``: what ``prepare`` needs from a
            study's grid and fixed config (JSON-able: saved with the sweep for ``--resume``).
        name_keys: ``(config key, prefix)`` pairs that name a trial's run.
        data_help: what ``--data-path`` takes, for the option's help and its error.
        subset: (config key, unit) of ``--train-subset``: how a run trains on less data.
        reference: the published figure a study of this task is read against.
        serving: how its model takes raw input when logged to MLflow; None: not yet (its
            trials keep their checkpoints, no model is logged).
        table_params: the hyperparameters in front of a report's study table.
        table_train: whether the study table shows the training ``measure`` too (where
            overfitting is the story: perplexity, spoken words).
        chance: ``(in words, value)`` of the training loss of a model that learned nothing
            (a two-class classifier: ``("ln 2", 0.6931)``); reports name trials stuck there.
        options: the task's own data options (``TaskOption``), on every study script of it.
        trial: ``"module:function"`` of a trial that is not the platform's training loop (a
            replay of recorded curves, a trainer of its own): ``fn(config, data, report,
            state)``, called as ``rnn_core.training.train`` is, with a ``state`` that is
            JSON-able (checkpointed as JSON after every report). The sweep's Ray workers then
            never import torch. None: the training loop, with ``trainer``.
    """

    name: str
    objective: str
    mode: str
    trainer: str
    prepare: Callable[[str | None, int, dict], tuple[Any, dict]]
    data_options: Callable[[dict, dict], dict]
    name_keys: tuple[tuple[str, str], ...]
    data_help: str = ""
    subset: tuple[str, str] = ("train_subset", "examples")
    reference: str = ""
    serving: Serving | None = None
    table_params: tuple[str, ...] = ()
    table_train: bool = False
    chance: tuple[str, float] | None = None
    options: tuple[TaskOption, ...] = ()
    trial: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("max", "min") or not self.objective.startswith("val_"):
            raise ValueError(f"task {self.name!r}: objective must be val_* with mode max|min")
        if not (self.trainer or self.trial):
            raise ValueError(f"task {self.name!r}: a trainer or a trial function is needed")

    @property
    def measure(self) -> str:
        """The objective without its split: ``acc``, ``ppl``."""
        return self.objective[len("val_"):]

    @property
    def best_metric(self) -> str:
        """The best objective so far, reported every epoch (``best_val_acc``)."""
        return f"best_{self.objective}"

    @property
    def test_metric(self) -> str:
        """The objective on the test split, of the best-on-validation state (``test_acc``)."""
        return f"test_{self.measure}"

    def better(self, a: float, b: float | None) -> bool:
        """Whether objective value ``a`` beats ``b`` (None: nothing yet)."""
        return b is None or (a > b if self.mode == "max" else a < b)

    def load_trainer(self) -> type:
        """The trainer class (imports torch: call it in trial workers, not on the driver)."""
        return _import(self.trainer)

    def load_trial(self) -> Callable[..., Any] | None:
        """The task's own trial function (``trial``; None: it trains with the loop)."""
        return _import(self.trial) if self.trial else None
