"""What runs inside a Ray trial's worker for a task with a trial function of its own
(``Task.trial``): the function's state checkpointed as JSON after every report.

Torch-free: a sweep of such a task (``bench/replay.py``'s replay of recorded curves) runs its
workers without the training loop, and local workers preload this module instead of
``_trial`` (``_ray.connect``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from ray import tune

from rnn_core.tasks import task_of

STATE = "state.json"


def run_task_trial(config: dict, data: Any) -> None:
    """One Ray trial of a task's own function: resumed from its last JSON state if any."""
    import ray

    state = None
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            state = json.loads((Path(d) / STATE).read_text())
    node_id = ray.get_runtime_context().get_node_id()

    def report(metrics: dict, st: dict) -> None:
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / STATE).write_text(json.dumps(st))
            tune.report({**metrics, "node_id": node_id},
                        checkpoint=tune.Checkpoint.from_directory(d))

    task_of(config).load_trial()(config, data, report, state)
