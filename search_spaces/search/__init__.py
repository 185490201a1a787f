"""The search spaces of ``sweeps/search.py``: one module per task, named as the task, that
sweeps a user's own data of that kind (``TASK``, ``TITLE``, ``GRID``, ``RECIPE``, ``PRESETS``,
``SEARCH``, ``SCHEDULER``, as every study's space). A task of one's own gets its space as a
module anywhere importable (``--space package.module``).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ["space_for", "tasks"]


def tasks() -> list[str]:
    """The tasks that have a space here."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def space_for(task: str) -> ModuleType:
    """The space module of ``task`` (ModuleNotFoundError where it has none)."""
    if task not in tasks():
        raise ModuleNotFoundError(f"no search space for task {task!r}")
    return importlib.import_module(f"{__name__}.{task}")
