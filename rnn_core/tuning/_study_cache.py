"""The sweep's Optuna study, kept in its SQLite file and read from memory.

Optuna's own wrapper of an RDB storage keeps the finished trials in memory but reads every
unfinished one back from the database whenever a sampler asks for the study's trials, since
another process may have changed it. Under ASHA most of a sweep's trials are unfinished for
most of it (RUNNING in the study while they wait paused at a rung), and the searcher asks for
the trials several times per new trial: each ask read back hundreds of trials, a cost that
grows with the square of the trial count (docs/scale.md).

A sweep's study has one writer, its driver. ``StudyCache`` writes every change to the
database as it comes (the file is the study, for ``optuna.load_study``, optuna-dashboard and
``--resume``) and applies the same change to its copy of the study's trials in memory, as
Optuna's in-memory storage applies it (a changed trial is a changed copy, never the object a
sampler was handed). Reads cost nothing in the database after a study's first; the times a
trial started and completed are this process's clock, the file's a moment apart. Pickled (Ray
saves its searcher with the study), it keeps only its URL, and reads the study afresh where it
is unpickled.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Container, Sequence
from datetime import datetime
from typing import Any

from optuna.storages import BaseStorage, RDBStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from rnn_core.tuning._compat_optuna import trial_id

__all__ = ["StudyCache"]


class StudyCache(BaseStorage):
    """An RDB storage (``url``) whose trials are read from memory; this process must be the
    only one that writes to the studies it reads through it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._open()

    def _open(self) -> None:
        self._db = RDBStorage(self.url)
        self._studies: dict[int, dict[int, FrozenTrial]] = {}  # study id -> number -> trial
        self._where: dict[int, tuple[int, int]] = {}  # trial id -> (study id, number)
        self._directions: dict[int, list[StudyDirection]] = {}
        self._lock = threading.RLock()

    @property
    def engine(self):
        """The database's SQLAlchemy engine."""
        return self._db.engine

    def __getstate__(self) -> dict:
        return {"url": self.url}

    def __setstate__(self, state: dict) -> None:
        self.url = state["url"]
        self._open()

    # -- the trials in memory

    def _trials(self, study_id: int) -> dict[int, FrozenTrial]:
        """The study's trials (read from the database the first time)."""
        if study_id not in self._studies:
            trials = self._db.get_all_trials(study_id, deepcopy=False)
            self._studies[study_id] = {t.number: t for t in trials}
            self._where.update({trial_id(t): (study_id, t.number) for t in trials})
        return self._studies[study_id]

    def _change(self, tid: int, change) -> None:
        """Apply ``change`` to a copy of the cached trial ``tid`` (if this cache holds it)."""
        if tid in self._where:
            study_id, number = self._where[tid]
            trial = copy.copy(self._studies[study_id][number])
            change(trial)
            self._studies[study_id][number] = trial

    # -- trials

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        with self._lock:
            tid = self._db.create_new_trial(study_id, template_trial)
            if study_id in self._studies:
                trial = self._db.get_trial(tid)
                self._studies[study_id][trial.number] = trial
                self._where[tid] = (study_id, trial.number)
            return tid

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution) -> None:
        def change(t: FrozenTrial) -> None:
            t.params = {**t.params, param_name: distribution.to_external_repr(
                param_value_internal)}
            t.distributions = {**t.distributions, param_name: distribution}

        with self._lock:
            self._db.set_trial_param(trial_id, param_name, param_value_internal, distribution)
            self._change(trial_id, change)

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        def change(t: FrozenTrial) -> None:
            t.state = state
            if values is not None:
                t.values = values
            if state == TrialState.RUNNING:
                t.datetime_start = datetime.now()
            if state.is_finished():
                t.datetime_complete = datetime.now()

        with self._lock:
            changed = self._db.set_trial_state_values(trial_id, state, values)
            if changed:
                self._change(trial_id, change)
            return changed

    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     intermediate_value: float) -> None:
        def change(t: FrozenTrial) -> None:
            t.intermediate_values = {**t.intermediate_values, step: intermediate_value}

        with self._lock:
            self._db.set_trial_intermediate_value(trial_id, step, intermediate_value)
            self._change(trial_id, change)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_attr(trial_id, "user_attrs", key, value, self._db.set_trial_user_attr)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_attr(trial_id, "system_attrs", key, value, self._db.set_trial_system_attr)

    def _set_attr(self, trial_id: int, attrs: str, key: str, value: Any, write) -> None:
        with self._lock:
            write(trial_id, key, value)
            self._change(trial_id, lambda t: setattr(t, attrs, {**getattr(t, attrs), key: value}))

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            if trial_id not in self._where:
                return self._db.get_trial(trial_id)
            study_id, number = self._where[trial_id]
            return self._studies[study_id][number]

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        with self._lock:
            trials = list(self._trials(study_id).values())  # by number: created in order
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        with self._lock:
            trial = self._trials(study_id).get(trial_number)
        if trial is None:
            return self._db.get_trial_id_from_study_id_trial_number(study_id, trial_number)
        return trial_id(trial)

    # -- studies: few calls, to the database (directions never change)

    def create_new_study(self, directions: Sequence[StudyDirection],
                         study_name: str | None = None) -> int:
        return self._db.create_new_study(directions, study_name)

    def delete_study(self, study_id: int) -> None:
        with self._lock:
            self._db.delete_study(study_id)
            for tid in [t for t, (s, _) in self._where.items() if s == study_id]:
                del self._where[tid]
            self._studies.pop(study_id, None)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._db.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._db.set_study_system_attr(study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self._db.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._db.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        if study_id not in self._directions:
            self._directions[study_id] = self._db.get_study_directions(study_id)
        return self._directions[study_id]

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._db.get_study_user_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._db.get_study_system_attrs(study_id)

    def get_all_studies(self):
        return self._db.get_all_studies()
