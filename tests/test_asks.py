"""A searcher under ASHA by promotion with a cap on running trials is asked for a trial as a
slot frees (``_asks.AskWhenFree``), with the real scheduler and the sweep's TPE searcher in
its SQLite study, driven by Ray's loop written out by hand: trials paused at a rung do not
count against the cap, so the sweep ends where Ray's own ``ConcurrencyLimiter`` (a trial
counts from its ask to its end) leaves every capped trial paused at a rung that waits for
trials never asked; and each ask sees what the trials before it reported, so TPE's model,
not its random start-up, serves most asks. ``tests/test_scale.py`` counts the same through
real Ray."""

from __future__ import annotations

from optuna.trial import TrialState
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import ConcurrencyLimiter

from rnn_core.tuning import PromotionASHA
from rnn_core.tuning._asks import AskWhenFree
from rnn_core.tuning._compat_ray import optuna_search_study
from rnn_core.tuning._search import make_searcher
from search_spaces.distributions import Uniform

N, CAP, EPOCHS = 27, 3, 3
STARTUP = max(2, min(10, N // 3))  # TPE's random start-up (``_search.make_sampler``)


class _Loop:
    """Ray's controller as the scheduler and the searcher see it, one step at a time: ask
    for trials while the search gives one and none is pending (Ray's limit of pending trials;
    one starts here as it is added), start what the scheduler hands out, and let every
    running trial report its next epoch."""

    def __init__(self, search, scheduler: PromotionASHA, searcher) -> None:
        self.search, self.sched = search, scheduler
        self.study = optuna_search_study(searcher)
        self.trials: list[Trial] = []
        self.epoch: dict[str, int] = {}
        self.asks: list[tuple[int, int]] = []  # per ask: TPE's observations, trials training

    def get_trials(self) -> list[Trial]:
        return self.trials

    def stop_trial(self, trial: Trial) -> None:
        trial.set_status(Trial.TERMINATED)
        self.sched.on_trial_remove(self, trial)
        self.search.on_trial_complete(trial.trial_id, self._result(trial))

    def _result(self, trial: Trial) -> dict:
        e = self.epoch[trial.trial_id]
        return {"training_iteration": e, "val_acc": trial.config["x"] * e / EPOCHS}

    def _observations(self) -> int:
        """The trials TPE models: ended, or at a rung (``RungSampler`` shows them pruned)."""
        return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                   or (t.state == TrialState.RUNNING and bool(t.intermediate_values))
                   for t in self.study.get_trials(deepcopy=False))

    def step(self) -> bool:
        """One step of the loop; False where nothing happened (the sweep ended or hangs)."""
        moved = False
        while len(self.trials) < N:  # no trial stays PENDING here: Ray asks on
            tid, seen = f"t{len(self.trials):02d}", self._observations()
            config = self.search.suggest(tid)
            if config is None:
                break
            training = sum(t.status == Trial.RUNNING for t in self.trials)
            self.asks.append((seen, training))
            trial = Trial("__sim", config=config, trial_id=tid, stub=True)
            self.trials.append(trial)
            self.epoch[tid] = 0
            self.sched.on_trial_add(self, trial)
            if trial.status == Trial.PENDING:
                trial.set_status(Trial.RUNNING)
            moved = True
        ended = sum(t.status == Trial.TERMINATED for t in self.trials)
        if (chosen := self.sched.choose_trial_to_run(self)) is not None:
            chosen.set_status(Trial.RUNNING)
            moved = True
        moved = moved or sum(t.status == Trial.TERMINATED for t in self.trials) > ended  # a stop
        for trial in [t for t in self.trials if t.status == Trial.RUNNING]:
            self.epoch[trial.trial_id] += 1
            result = self._result(trial)
            self.search.on_trial_result(trial.trial_id, result)
            moved = True
            if result["training_iteration"] == EPOCHS:
                trial.set_status(Trial.TERMINATED)
                self.sched.on_trial_complete(self, trial, result)
                self.search.on_trial_complete(trial.trial_id, result)
                continue
            decision = self.sched.on_trial_result(self, trial, result)
            if decision == TrialScheduler.PAUSE:
                trial.set_status(Trial.PAUSED)
            elif decision == TrialScheduler.STOP:
                trial.set_status(Trial.TERMINATED)
                self.sched.on_trial_complete(self, trial, result)
                self.search.on_trial_complete(trial.trial_id, result)
        return moved

    def run(self, steps: int = 1000) -> int:
        """Steps until the sweep ends or hangs; the trials that ended."""
        for _ in range(steps):
            if not self.step():
                break
        return sum(t.status == Trial.TERMINATED for t in self.trials)


def _loop(tmp_path, wrap) -> _Loop:
    searcher = make_searcher("tpe", {"x": Uniform(0.0, 1.0)}, "val_acc", "max", N, 0,
                             f"sqlite:///{tmp_path}/optuna.db", "asks", rungs=True)
    scheduler = PromotionASHA(N, 1, EPOCHS, 3, metric="val_acc", mode="max",
                              max_running=CAP, slots=CAP)
    return _Loop(wrap(searcher, scheduler), scheduler, searcher)


def test_asked_as_slots_free_the_sweep_ends_and_tpe_models_most_asks(tmp_path):
    loop = _loop(tmp_path, lambda searcher, sched: AskWhenFree(searcher, sched, CAP))
    assert loop.run() == N
    assert len(loop.asks) == N
    assert all(training < CAP for _, training in loop.asks)  # each ask for a free slot
    modelled = sum(seen >= STARTUP for seen, _ in loop.asks)
    assert modelled >= N - CAP - STARTUP, loop.asks


def test_asked_whenever_none_is_pending_tpe_draws_every_trial_at_random(tmp_path):
    """The searcher on its own, as sweeps under a cap asked it before: a new trial over the
    cap is held PAUSED, not pending, so Ray asks again at once, and every trial is drawn
    before any has reported."""
    loop = _loop(tmp_path, lambda searcher, sched: searcher)
    assert loop.run() == N
    assert sum(seen >= STARTUP for seen, _ in loop.asks) == 0


def test_rays_own_limit_leaves_every_capped_trial_paused(tmp_path):
    """The case ``AskWhenFree`` exists for: Ray's ``ConcurrencyLimiter`` counts the trials
    paused at the rung, stops asking, and the rung waits for trials never asked."""
    loop = _loop(tmp_path, lambda searcher, sched: ConcurrencyLimiter(searcher, CAP))
    ended = loop.run()
    assert ended < N and len(loop.asks) - ended == CAP
    assert all(t.status == Trial.PAUSED for t in loop.trials if t.status != Trial.TERMINATED)
