"""Tasks: what a study trains (sentiment of reviews, next-word prediction, spoken words, ...).

A task owns preparing its data once on the driver, building its model from a trial config, a
training epoch and an evaluation pass, and the metrics it reports with its objective and
direction. Everything above it (the trial function, schedulers, tracking, resume, reports)
reads the objective from the task. A search space names its task (``TASK``); a new task is
one spec module here (torch-free) and its trainer.
"""

from __future__ import annotations

from rnn_core.errors import ConfigError
from rnn_core.tasks._base import Serving, Task
from rnn_core.tasks.audio import TASK as AUDIO
from rnn_core.tasks.language_model import TASK as LANGUAGE_MODEL
from rnn_core.tasks.sentiment import TASK as SENTIMENT

__all__ = ["AUDIO", "DEFAULT_TASK", "LANGUAGE_MODEL", "SENTIMENT", "TASKS", "Serving", "Task",
           "get_task"]

TASKS: dict[str, Task] = {t.name: t for t in (SENTIMENT, LANGUAGE_MODEL, AUDIO)}
# trial configs written before tasks existed name none: they were all sentiment
DEFAULT_TASK = SENTIMENT.name


def get_task(name: str | None) -> Task:
    """The registered task ``name`` (None: the default); ConfigError listing valid names."""
    try:
        return TASKS[name or DEFAULT_TASK]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}") from None
