"""The outbox's entries applied to MLflow: a child run made once (looked up by its trial id
where an earlier try may have made it), metrics, params and tags in batches, statuses, a
checkpoint's files. Kept apart from the outbox: it decides when an entry is sent, this module
what sending it does."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from rnn_core.tuning._storage import checkpoint_folder, place

__all__ = ["PARENT", "RunWrites"]

PARENT = None  # the key of the sweep's parent run (a child run's key is its Ray trial id)


class RunWrites:
    """Writes the outbox's entries (``Outbox``'s docstring gives their shapes) with ``client``
    into the sweep's experiment, its child runs under ``parent``."""

    def __init__(self, client, experiment_id: str, parent: str) -> None:
        self.client, self.exp_id, self.parent = client, experiment_id, parent
        self.ids: dict[str, str] = {}  # trial id -> its child run id
        self.unsure: set[str] = set()  # trials whose run may have been made twice

    def drop_spares(self) -> None:
        """Delete the child runs made twice during the outage (a creation that timed out, then
        reached the server after all), keeping the one the sweep writes to."""
        for tid in sorted(self.unsure):
            with contextlib.suppress(Exception):  # a spare left is only an empty run
                for run in self._runs_of(tid):
                    if run.info.run_id != self.ids.get(tid):
                        self.client.delete_run(run.info.run_id)
        self.unsure.clear()

    def _runs_of(self, tid: str) -> list:
        return self.client.search_runs(
            [self.exp_id], f"tags.mlflow.parentRunId = '{self.parent}' and "
            f"tags.ray_trial_id = '{tid}'", order_by=["attributes.start_time ASC"])

    def _run_id(self, key: str | None) -> str:
        if key is PARENT:
            return self.parent
        if key not in self.ids:  # made by an earlier driver
            found = self._runs_of(key)
            if not found:
                raise KeyError(f"no child run for trial {key}")
            self.ids[key] = found[0].info.run_id
        return self.ids[key]

    def send(self, entry: list) -> None:
        kind, key, *rest = entry
        if kind == "create":
            self._create(key, *rest)
        elif kind == "batch":
            self._batch(self._run_id(key), *rest)
        elif kind == "status":
            status, end_ms = rest
            if status == "RUNNING":
                self.client.update_run(self._run_id(key), status=status)
            else:
                self.client.set_terminated(self._run_id(key), status, end_time=end_ms)
        elif kind == "delete":
            with contextlib.suppress(KeyError):  # deleted already (a replayed entry)
                self.client.delete_run(self._run_id(key))
        elif kind == "files":
            where, names, artifact_path = rest
            with checkpoint_folder(place(where), tuple(names)) as folder:
                if folder is None or not Path(folder, names[0]).exists():
                    return  # none kept (or gone since: a checkpoint removed by hand)
                for name in names:
                    if Path(folder, name).exists():
                        self.client.log_artifact(self._run_id(key), str(Path(folder, name)),
                                                 artifact_path)
        else:
            raise ValueError(f"unknown MLflow write {kind!r}")

    def _create(self, tid: str, run_name: str, tags: dict, params: dict,
                start_ms: int) -> None:
        if tid not in self.ids and tid in self.unsure:
            found = self._runs_of(tid)
            if found:
                self.ids[tid] = found[0].info.run_id
        if tid not in self.ids:
            run = self.client.create_run(self.exp_id, start_time=start_ms, tags=tags,
                                         run_name=run_name)
            self.ids[tid] = run.info.run_id
        self._batch(self.ids[tid], [], params, {})

    def _batch(self, run_id: str, metrics: list, params: dict, tags: dict[str, Any]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        ms = [Metric(k, float(v), int(t), int(s)) for k, v, t, s in metrics]
        ps = [Param(k, str(v)) for k, v in sorted(params.items())]
        ts = [RunTag(k, str(v)) for k, v in tags.items()]
        # MLflow takes at most 100 params and 1000 metrics a batch
        for i in range(0, max(len(ps), 1), 100):
            self.client.log_batch(run_id, metrics=ms if i == 0 else [], params=ps[i:i + 100],
                                  tags=ts if i == 0 else [])
