"""Every Optuna internal rnn-sweeps relies on, and nothing else: where Optuna has no public API
for what a sweep needs, the private access is made here, behind a guard that names Optuna's
version and the internal when it is gone or has changed shape, so that an Optuna release that
moves one fails loudly here rather than leaving TPE or a resumed study subtly wrong.

``check()`` tries every internal at once (``tests/test_compat.py`` runs it against the pinned
version); each function below also checks the internal it uses when it is called.

What has no public API in Optuna 5.0, and why each is needed:

- ``Study._get_trials(deepcopy, states, use_cache)``: how Optuna's samplers read a study's
  trials (TPE, NSGA-II, GP, QMC, CMA-ES). ``trials_view`` shows a sampler the study with some
  trials shown otherwise (``_rungs``: trials waiting at ASHA's rungs as pruned), leaving the
  stored study as it is; only an override of this method reaches what the sampler reads. The
  view shares the study's instance state (``vars(study)``: storage, id, per-thread cache).
- ``FrozenTrial._trial_id`` and ``Trial(study, trial_id)``: a trial asked before an
  interruption and never given to Ray is handed to the next Ray trial on resume, as the
  running trial it is (``Study.ask`` only makes new trials or takes waiting ones).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Container
from typing import NoReturn

from optuna.study import Study
from optuna.trial import FrozenTrial, Trial, TrialState

from rnn_core.errors import IncompatibleLibrary

__all__ = ["check", "trials_view", "trial_id", "running_trial"]


def _fail(internal: str, problem: str, purpose: str) -> NoReturn:
    import optuna

    raise IncompatibleLibrary(
        f"Optuna {optuna.__version__}: {internal} {problem}; rnn-sweeps relies on it to "
        f"{purpose}. Install the Optuna version pyproject.toml pins, or adapt "
        "rnn_core/tuning/_compat_optuna.py to this one.")


# -- a study as a sampler sees it

_VIEW = "show TPE the trials waiting at ASHA's rungs (rnn_core/tuning/_rungs.py)"
_GET_TRIALS = {"deepcopy", "states", "use_cache"}


def _check_get_trials() -> None:
    method = getattr(Study, "_get_trials", None)
    if not callable(method):
        _fail("Study._get_trials", "is gone", _VIEW)
    params = set(inspect.signature(method).parameters)
    if not _GET_TRIALS <= params:
        _fail("Study._get_trials", f"no longer takes {sorted(_GET_TRIALS - params)}", _VIEW)
    if "__slots__" in vars(Study):
        _fail("Study", "keeps its state in __slots__ (a view copies vars(study))", _VIEW)


class _TrialsView(Study):
    """``study`` with each trial passed through ``show`` before a sampler reads it.

    It is the same study (its storage, id, sampler and per-thread trial cache are shared; no
    storage call is made to build it); only the trials it lists differ. ``get_trials``
    goes through ``_get_trials`` as well.
    """

    def __init__(self, study: Study, show: Callable[[FrozenTrial], FrozenTrial]) -> None:
        vars(self).update(vars(study))  # a view, not a second study: no Study.__init__
        self._rnn_sweeps_show = show

    def _get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        trials = super()._get_trials(deepcopy=False, states=None, use_cache=use_cache)
        shown = [self._rnn_sweeps_show(t) for t in trials]
        if states is not None:
            shown = [t for t in shown if t.state in states]
        return copy.deepcopy(shown) if deepcopy else shown


def trials_view(study: Study, show: Callable[[FrozenTrial], FrozenTrial]) -> Study:
    """``study`` as its sampler should see it: each trial as ``show`` returns it (the trial
    itself, or a changed copy; ``show`` must not change the trial it is given)."""
    _check_get_trials()
    return _TrialsView(study, show)


def _check_view() -> None:
    """A view changes what ``get_trials`` and TPE read, and leaves the stored study alone."""
    import optuna
    from optuna.distributions import FloatDistribution

    _check_get_trials()
    dist = FloatDistribution(0, 1)
    study = optuna.create_study(direction="maximize")
    for x in (0.2, 0.8):
        study.add_trial(optuna.trial.create_trial(params={"x": x}, distributions={"x": dist},
                                                  value=x))
    asked = study.ask({"x": dist})
    asked.report(0.5, 1)
    seen: list[int] = []

    def show(t: FrozenTrial) -> FrozenTrial:
        seen.append(t.number)
        if t.state != TrialState.RUNNING:
            return t
        shown = copy.copy(t)
        shown.state = TrialState.PRUNED
        return shown

    view = trials_view(study, show)
    if [t.state for t in view.get_trials(deepcopy=False)][-1] != TrialState.PRUNED:
        _fail("Study.get_trials", "no longer reads through Study._get_trials", _VIEW)
    if study.get_trials(deepcopy=False)[-1].state != TrialState.RUNNING:
        _fail("Study._get_trials", "returns trials a view cannot copy unchanged", _VIEW)
    seen.clear()
    frozen = study.get_trials(deepcopy=False)[-1]
    optuna.samplers.TPESampler(seed=0, n_startup_trials=1).sample_independent(
        view, frozen, "x", dist)
    if not seen:
        _fail("TPESampler", "no longer reads a study's trials through Study._get_trials",
              _VIEW)


# -- handing an asked trial on

_RESUME = "give a trial asked before an interruption to the next Ray trial on --resume"


def trial_id(trial: FrozenTrial | Trial) -> int:
    """The storage id of an Optuna trial (``FrozenTrial`` or ``Trial``)."""
    tid = getattr(trial, "_trial_id", None)
    if not isinstance(tid, int):
        _fail(f"{type(trial).__name__}._trial_id", "is gone or not an int", _RESUME)
    return tid


def running_trial(study: Study, tid: int) -> Trial:
    """The live ``Trial`` of ``study``'s RUNNING trial of storage id ``tid`` (``trial_id``),
    to report to and tell."""
    params = set(inspect.signature(Trial).parameters)
    if not {"study", "trial_id"} <= params:
        _fail("Trial(study, trial_id)", "no longer takes a study and a trial id", _RESUME)
    return Trial(study, tid)


def _check_resume() -> None:
    import optuna

    study = optuna.create_study()
    asked = study.ask()
    frozen, = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if trial_id(asked) != trial_id(frozen):
        _fail("Trial._trial_id", "is not the FrozenTrial's _trial_id", _RESUME)
    again = running_trial(study, trial_id(frozen))
    study.tell(again, 1.0)
    if study.trials[0].state != TrialState.COMPLETE:
        _fail("Trial(study, trial_id)", "is not the running trial of that id", _RESUME)


def check() -> None:
    """Try every Optuna internal this package uses; IncompatibleLibrary names the first
    missing."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        _check_view()
        _check_resume()
    finally:
        optuna.logging.set_verbosity(verbosity)
