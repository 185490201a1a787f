"""A trial that ended after Ray last saved its state, before the driver was killed: Ray's
saved trial list restores it unfinished, from an older checkpoint. The sweep's Optuna study
and its MLflow run recorded the end; the resumed sweep keeps it ended: the searcher takes no
result for it (Optuna refuses one for an ended trial, which crashed a resumed FIFO sweep in a
test run), and the schedulers end it without training (``_restored_ends``). Driven by hand in
Ray's order, with the real searcher, schedulers and Ray's ``Trial``; the kill-and-resume
tests (``tests/test_stale_trial_list.py``) run real sweeps."""

from __future__ import annotations

import optuna
from ray.tune.experiment import Trial

from rnn_core.tuning import PromotionASHA
from rnn_core.tuning._asks import RestoredFIFO
from rnn_core.tuning._search import make_searcher
from search_spaces.distributions import LogUniform


def test_the_study_keeps_the_end_of_a_trial_restored_unfinished(tmp_path):
    url = f"sqlite:///{tmp_path}/optuna.db"

    def searcher():
        return make_searcher("tpe", {"lr": LogUniform(1e-4, 1e-1)}, "best_val_acc", "max", 4,
                             0, url, "ends", rungs=True, max_step=2)

    first = searcher()
    first.suggest("t0"), first.suggest("t1")
    first.on_trial_result("t0", {"training_iteration": 1, "best_val_acc": 0.5})
    first.save(str(tmp_path / "searcher.pkl"))  # Ray's last save before the kill
    first.on_trial_result("t0", {"training_iteration": 2, "best_val_acc": 0.7})
    first.on_trial_complete("t0", {"training_iteration": 2, "best_val_acc": 0.7})

    resumed = searcher()
    resumed.restore(str(tmp_path / "searcher.pkl"))
    # t0 trained again from its epoch-1 checkpoint: Optuna would raise UpdateFinishedTrialError
    resumed.on_trial_result("t0", {"training_iteration": 2, "best_val_acc": 0.6})
    resumed.on_trial_complete("t0", {"training_iteration": 2, "best_val_acc": 0.6})
    for epoch, acc in ((1, 0.4), (2, 0.8)):  # t1, restored RUNNING, goes on as before
        resumed.on_trial_result("t1", {"training_iteration": epoch, "best_val_acc": acc})
    resumed.on_trial_complete("t1", {"training_iteration": 2, "best_val_acc": 0.8})

    trials = optuna.load_study(study_name="ends", storage=url).get_trials(deepcopy=False)
    assert [(t.state.name, t.value) for t in trials] == [("COMPLETE", 0.7), ("COMPLETE", 0.8)]
    assert trials[0].intermediate_values == {1: 0.5, 2: 0.7}


class _Controller:
    """What the schedulers call on Ray's controller here, as Ray 2.60 does it: ``stop_trial``
    of a trial that is not running removes it from the scheduler and ends it."""

    def __init__(self, scheduler) -> None:
        self.scheduler, self.trials, self.stopped = scheduler, [], []
        self.search_alg = None

    def add(self, tid: str) -> Trial:
        trial = Trial("__sim", config={}, trial_id=tid, stub=True)
        self.scheduler.on_trial_add(self, trial)
        self.trials.append(trial)
        return trial

    def get_trials(self) -> list[Trial]:
        return self.trials

    def stop_trial(self, trial: Trial) -> None:
        assert trial.status in (Trial.PENDING, Trial.PAUSED)
        self.scheduler.on_trial_remove(self, trial)
        trial.set_status(Trial.TERMINATED)
        self.stopped.append(trial.trial_id)


def test_fifo_ends_a_restored_trial_whose_run_had_ended_without_training():
    scheduler = RestoredFIFO(resumed=True)
    scheduler.closed = frozenset({"t0"})
    ray = _Controller(scheduler)
    t0, t1 = ray.add("t0"), ray.add("t1")  # restored PENDING, to train again
    assert (t0.status, t1.status) == (Trial.PAUSED, Trial.PENDING)
    assert scheduler.choose_trial_to_run(ray) is None and ray.stopped == ["t0"]
    assert scheduler.choose_trial_to_run(ray) is t1
    assert t0.status == Trial.TERMINATED


def test_asha_ends_a_restored_trial_whose_run_had_ended_without_training(tmp_path):
    scheduler = PromotionASHA(3, 1, 3, 3, state_file=tmp_path / "asha.json",
                              metric="best_val_acc", mode="max", slots=2)
    scheduler.closed = frozenset({"t0"})
    ray = _Controller(scheduler)
    t0, t1 = ray.add("t0"), ray.add("t1")
    assert (t0.status, t1.status) == (Trial.PAUSED, Trial.PENDING)
    scheduler.choose_trial_to_run(ray)
    assert ray.stopped == ["t0"] and scheduler.ended == {"t0"}
    assert "t0" not in scheduler.queued  # never handed out as a new trial
    scheduler.choose_trial_to_run(ray)
    assert ray.stopped == ["t0"] and t1.status == Trial.PENDING
