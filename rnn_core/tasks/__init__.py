"""Tasks: what a study trains (sentiment of reviews, next-word prediction, spoken words, ...).

A task owns preparing its data once on the driver, building its model from a trial config, a
training epoch and an evaluation pass, and its objective and direction. Everything above it
(the trial function, schedulers, tracking, resume, reports) reads the objective from the task,
and the reports take their columns from it. A search space names its task (``TASK``); a new
task is one spec module (torch-free) that calls ``register`` and its trainer, here or anywhere
importable.
"""

from __future__ import annotations

from rnn_core.tasks import (  # noqa: F401  (they register)
    audio,
    language_model,
    sentiment,
    sequence_classification,
    sequence_regression,
    text_classification,
)
from rnn_core.tasks._base import Serving, Task, TaskOption
from rnn_core.tasks._registry import DEFAULT_TASK, TASKS, get_task, register, task_keys, task_of

AUDIO = audio.TASK
LANGUAGE_MODEL = language_model.TASK
SENTIMENT = sentiment.TASK
TEXT_CLASSIFICATION = text_classification.TASK

__all__ = ["AUDIO", "DEFAULT_TASK", "LANGUAGE_MODEL", "SENTIMENT", "TASKS", "TEXT_CLASSIFICATION",
           "Serving", "Task", "TaskOption", "get_task", "register", "task_keys", "task_of",
           "train"]


def train(config: dict, data, report=None, state=None) -> dict:
    """``rnn_core.training.train`` on the task ``config`` names (imports torch: for trial
    workers, tests and benchmarks, not the driver)."""
    from rnn_core import training

    return training.train(task_of(config), config, data, report, state)
