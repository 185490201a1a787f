"""The registry of tasks: a task module registers its ``Task`` when it is imported.

A task defined outside this package (a user's module, a test's toy task) registers the same
way; the sweep then names its module in the trial config (``task_module``), so a trial's
worker, which starts without the driver's imports, imports it before looking the task up.
"""

from __future__ import annotations

import importlib

from rnn_core.errors import ConfigError
from rnn_core.tasks._base import Task

__all__ = ["TASKS", "get_task", "register", "task_keys", "task_of"]

TASKS: dict[str, Task] = {}
_MODULES: dict[str, str] = {}
_BUILT_IN = "rnn_core.tasks."
# trial configs written before tasks existed name none: they were all sentiment
DEFAULT_TASK = "sentiment"


def register(task: Task, module: str) -> Task:
    """Add ``task`` (defined in ``module``, the caller's ``__name__``); returns it. A second
    task under a registered name is refused: the name is what configs and runs record."""
    known = TASKS.get(task.name)
    if known is not None and known is not task and _MODULES[task.name] != module:
        raise ValueError(f"task {task.name!r} is registered already by {_MODULES[task.name]}")
    TASKS[task.name] = task
    _MODULES[task.name] = module
    return task


def get_task(name: str | None, module: str | None = None) -> Task:
    """The registered task ``name`` (None: the default), importing ``module`` first where it
    is not registered yet; ConfigError listing valid names."""
    name = name or DEFAULT_TASK
    if name not in TASKS and module:
        importlib.import_module(module)
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}") from None


def task_keys(task: Task) -> dict[str, str]:
    """The trial-config keys that find ``task`` in any process: its name, and its module
    where that is outside this package (a worker imports it)."""
    module = _MODULES.get(task.name, "")
    return {"task": task.name,
            **({"task_module": module} if module and not module.startswith(_BUILT_IN) else {})}


def task_of(config: dict) -> Task:
    """The task a trial config names (``task_keys``)."""
    return get_task(config.get("task"), config.get("task_module"))
