"""Every Ray internal rnn-sweeps relies on, and nothing else: where Ray has no public API for
what a sweep needs, the private access is made here, behind a guard that names Ray's version
and the internal when it is gone or has changed shape, so that a Ray release that moves one
fails loudly here rather than leaving a resumed sweep subtly wrong.

``check()`` tries every internal at once (``tests/test_compat.py`` runs it against the pinned
version); each function below also checks the internal it uses when it is called.

What has no public API in Ray 2.60, and why each is needed:

- ``ray._private.worker._global_node.head``: whether this process started the local instance
  it is connected to (``ray.init`` returns no such fact, and ``ray.get_runtime_context()``
  says which node, not who started it); a process leaves an instance it started to the
  kernel and disconnects from one it joined (``_ray.leave``).
- ``Tuner._local_tuner._run_config`` / ``._tune_config``: ``Tuner.restore`` takes the
  trainable and ``param_space`` but not the callbacks, scheduler or search algorithm, and
  unpickles the first driver's; a resumed sweep needs live ones (its MLflow callback, ASHA's
  reloaded rungs, the searcher Ray restores its state into).
- ``TuneController._set_trial_status``: a scheduler that re-pauses a trial Ray requeued after
  a failure must file it under its new status as Ray's controller does.
- ``ray.tune.schedulers.hyperband._Bracket`` and ``HyperBandScheduler``'s ``_hyperbands``,
  ``_trial_info``, ``_metric``, ``_metric_op``: synchronous successive halving is one bracket
  of Hyperband sized to the sweep, which Ray's ``HyperBandScheduler`` cannot be told to build.
- ``OptunaSearch._ot_study`` / ``._ot_trials``: the searcher's Optuna study and its map of Ray
  trials to Optuna trials, to name a study's metrics, hand a trial asked before an
  interruption to the next Ray trial, and tag each MLflow run with its Optuna trial.
- ``ray.tune.execution.class_cache.DEFAULT_ENV_VARS``: the runtime env Tune gives every
  trainable, whose one variable keeps trial actors out of a local instance's prestarted
  workers.
- ``ray._private.node.Node`` (``RayParams.no_monitor``, ``.include_log_monitor``,
  ``Node.start_api_server``): ``ray.init`` starts every local instance with an API server
  (with ``include_dashboard=False`` it serves usage statistics alone, and ``ray.init`` waits
  for it to come up), the autoscaler's monitor and a log monitor, three Python processes
  that import Ray; a sweep's local instance uses none of them (``lean_local_instance``).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any, NoReturn

from rnn_core.errors import IncompatibleLibrary

__all__ = ["check", "started_local_instance", "share_prestarted_workers", "lean_local_instance",
           "give_restored_tuner", "set_trial_status", "one_bracket", "add_to_bracket",
           "hyperband_objective_set", "optuna_search_study", "optuna_search_trials"]


def _fail(internal: str, problem: str, purpose: str) -> NoReturn:
    import ray

    raise IncompatibleLibrary(
        f"Ray {ray.__version__}: {internal} {problem}; rnn-sweeps relies on it to {purpose}. "
        "Install the Ray version pyproject.toml pins, or adapt "
        "rnn_core/tuning/_compat_ray.py to this one.")


def _has_params(fn: Any, names: set[str], internal: str, purpose: str) -> None:
    try:
        params = set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = set()
    if not names <= params:
        _fail(internal, f"no longer takes {sorted(names - params)}", purpose)


# -- the local instance

_OWNS = "tell whether this process started the local Ray instance"


def started_local_instance() -> bool:
    """Whether this process started the Ray instance it is connected to (its head node)."""
    import ray
    from ray._private import worker

    if "_global_node" not in vars(worker):
        _fail("ray._private.worker._global_node", "is gone", _OWNS)
    node = worker._global_node
    if node is not None and not hasattr(node, "head"):
        _fail("ray._private.worker._global_node.head", "is gone", _OWNS)
    return bool(ray.is_initialized() and node is not None and node.head)


_PRESTARTED = "start trials in a local instance's prestarted workers"


def share_prestarted_workers() -> None:
    """Let trial actors run in the workers a local Ray instance starts up front.

    Tune gives every trainable the runtime env ``{"env_vars": {"PL_DISABLE_FORK": "1"}}`` (a
    PyTorch Lightning switch), and Ray hands an actor only a worker started with the same
    env; without that variable the env is empty, as the prestarted workers' is.
    """
    from ray.tune.execution import class_cache

    env = getattr(class_cache, "DEFAULT_ENV_VARS", None)
    if not isinstance(env, dict):
        _fail("ray.tune.execution.class_cache.DEFAULT_ENV_VARS", "is gone or not a dict",
              _PRESTARTED)
    env.pop("PL_DISABLE_FORK", None)


_LEAN = "start a local Ray instance without the processes a sweep never uses"


def _node_class():
    """Ray's ``Node``, after checking that ``ray.init`` builds one and what it reads."""
    from ray._private import node, parameter, worker

    base = getattr(node, "Node", None)
    if base is None or "ray._private.node.Node(" not in inspect.getsource(worker.init):
        _fail("ray.init building ray._private.node.Node", "is gone", _LEAN)
    for method, reads in (("start_head_processes", ("self._ray_params.no_monitor",
                                                    "self.start_api_server(")),
                          ("start_ray_processes", ("self._ray_params.include_log_monitor",))):
        fn = getattr(base, method, None)
        source = inspect.getsource(fn) if callable(fn) else ""
        for read in reads:
            if read not in source:
                _fail(f"Node.{method} with {read}", "is gone", _LEAN)
    _has_params(getattr(base, "start_api_server", None), {"include_dashboard", "raise_on_failure"},
                "Node.start_api_server", _LEAN)
    _has_params(parameter.RayParams, {"no_monitor", "include_log_monitor"}, "RayParams", _LEAN)
    return node, base


@contextlib.contextmanager
def lean_local_instance() -> Iterator[None]:
    """While ``ray.init`` starts a local instance, start it without its API server, the
    autoscaler's monitor (a local instance never scales) and the log monitor (a sweep's driver
    takes no worker output, ``log_to_driver=False``); unless ``include_dashboard`` is False,
    they start as before. Joining a running cluster is unchanged: its processes are its own."""
    module, base = _node_class()

    class LeanNode(base):
        def __init__(self, ray_params, head: bool = False, **kwargs):
            if head and kwargs.get("ray_init_cluster") and ray_params.include_dashboard is False:
                ray_params.no_monitor = True
                ray_params.include_log_monitor = False
            super().__init__(ray_params, head=head, **kwargs)

        def start_api_server(self, *, include_dashboard, raise_on_failure):
            if include_dashboard is not False:
                super().start_api_server(include_dashboard=include_dashboard,
                                         raise_on_failure=raise_on_failure)

    module.Node = LeanNode
    try:
        yield
    finally:
        module.Node = base


# -- a restored Tuner

_RESTORE = "give a resumed sweep live callbacks, scheduler and searcher"


def give_restored_tuner(tuner, callbacks: list, verbose: int, scheduler=None,
                        search_alg=None) -> None:
    """Replace what ``Tuner.restore`` unpickled from the first driver: its callbacks and
    verbosity, and its scheduler and search algorithm where given (None keeps the restored
    one)."""
    internal = getattr(tuner, "_local_tuner", None)
    if internal is None:
        _fail("Tuner._local_tuner", "is missing (a Ray client connection has none)", _RESTORE)
    run_config = getattr(internal, "_run_config", None)
    tune_config = getattr(internal, "_tune_config", None)
    if not (hasattr(run_config, "callbacks") and hasattr(run_config, "verbose")):
        _fail("TunerInternal._run_config (callbacks, verbose)", "is gone or changed shape",
              _RESTORE)
    if not (hasattr(tune_config, "scheduler") and hasattr(tune_config, "search_alg")):
        _fail("TunerInternal._tune_config (scheduler, search_alg)", "is gone or changed shape",
              _RESTORE)
    run_config.callbacks = callbacks
    run_config.verbose = verbose
    if scheduler is not None:
        tune_config.scheduler = scheduler
    if search_alg is not None:
        tune_config.search_alg = search_alg


def _check_restore() -> None:
    """A restored Tuner takes live callbacks, and a resumed fit reads what it was given."""
    import tempfile

    from ray import tune
    from ray.tune.impl.tuner_internal import TunerInternal

    for name, reads in (("_get_tune_run_arguments",
                         ("self._run_config.callbacks", "self._run_config.verbose")),
                        ("_fit_resume",
                         ("self._tune_config.scheduler", "self._tune_config.search_alg"))):
        method = getattr(TunerInternal, name, None)
        source = inspect.getsource(method) if callable(method) else ""
        for read in reads:
            if read not in source:
                _fail(f"TunerInternal.{name} reading {read}", "is gone", _RESTORE)
    with tempfile.TemporaryDirectory() as tmp:
        tune.Tuner(_no_trainable, run_config=tune.RunConfig(storage_path=tmp, name="check"))
        restored = tune.Tuner.restore(f"{tmp}/check", _no_trainable)
        give_restored_tuner(restored, [], 0, scheduler=object(), search_alg=object())


def _no_trainable(config: dict) -> None:
    """A trainable for ``check``'s throwaway Tuner (a module function, as Ray pickles it)."""


# -- schedulers

_STATUS = "re-pause a trial Ray requeued after a failure at an ASHA rung"


def set_trial_status(tune_controller, trial, status: str) -> None:
    """Set ``trial``'s status through Ray's controller, which files trials by status."""
    setter = getattr(tune_controller, "_set_trial_status", None)
    if not callable(setter):
        _fail("TuneController._set_trial_status", "is gone", _STATUS)
    setter(trial, status)


_SHA = "run synchronous successive halving as one bracket of HyperBandScheduler"
_BRACKET_ARGS = {"time_attr", "max_trials", "init_t_attr", "max_t_attr", "eta", "s"}


def _hyperband_state(scheduler, *names: str) -> None:
    for name in names:
        if name not in vars(scheduler):
            _fail(f"HyperBandScheduler.{name}", "is gone", _SHA)


def one_bracket(scheduler, n_trials: int, grace_period: int, max_t: int,
                reduction_factor: float, halvings: int, time_attr: str = "training_iteration"):
    """Make the ``HyperBandScheduler`` ``scheduler`` run one bracket of ``n_trials`` trials
    with ``halvings`` halvings from ``grace_period`` to ``max_t``; returns the bracket."""
    from ray.tune.schedulers import hyperband

    bracket_cls = getattr(hyperband, "_Bracket", None)
    if bracket_cls is None:
        _fail("ray.tune.schedulers.hyperband._Bracket", "is gone", _SHA)
    _has_params(bracket_cls, _BRACKET_ARGS, "hyperband._Bracket", _SHA)
    _hyperband_state(scheduler, "_hyperbands")
    bracket = bracket_cls(time_attr=time_attr, max_trials=n_trials, init_t_attr=grace_period,
                          max_t_attr=max_t, eta=reduction_factor, s=halvings)
    scheduler._hyperbands = [[bracket]]
    return bracket


def add_to_bracket(scheduler, bracket, trial) -> None:
    """File ``trial`` in ``bracket`` of ``scheduler`` (its first band), as Hyperband's own
    ``on_trial_add`` does for the bracket it fills."""
    _hyperband_state(scheduler, "_trial_info")
    bracket.add_trial(trial)
    scheduler._trial_info[trial] = bracket, 0


def hyperband_objective_set(scheduler) -> bool:
    """Whether the ``HyperBandScheduler`` ``scheduler`` has its metric and mode."""
    _hyperband_state(scheduler, "_metric_op")
    return bool(scheduler.metric and scheduler._metric_op)


def _check_schedulers() -> None:
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.schedulers import HyperBandScheduler

    if not callable(getattr(TuneController, "_set_trial_status", None)):
        _fail("TuneController._set_trial_status", "is gone", _STATUS)
    _has_params(TuneController._set_trial_status, {"trial", "status"},
                "TuneController._set_trial_status", _STATUS)
    scheduler = HyperBandScheduler(time_attr="training_iteration", max_t=3, metric="m",
                                   mode="max", reduction_factor=3)
    bracket = one_bracket(scheduler, n_trials=3, grace_period=1, max_t=3, reduction_factor=3,
                          halvings=1)
    _hyperband_state(scheduler, "_trial_info", "_metric_op")
    if not hyperband_objective_set(scheduler):
        _fail("HyperBandScheduler._metric_op", "is not set from mode", _SHA)
    for name in ("add_trial", "successive_halving"):
        if not callable(getattr(bracket, name, None)):
            _fail(f"hyperband._Bracket.{name}", "is gone", _SHA)


# -- Ray's OptunaSearch

_SEARCH = "reach the Optuna study behind Ray's OptunaSearch (resume, metric names, run tags)"


def optuna_search_study(searcher):
    """The Optuna study behind Ray's ``OptunaSearch`` ``searcher``."""
    import optuna

    study = getattr(searcher, "_ot_study", None)
    if not isinstance(study, optuna.Study):
        _fail("OptunaSearch._ot_study", "is gone or not an Optuna study", _SEARCH)
    return study


def optuna_search_trials(searcher) -> dict:
    """``OptunaSearch``'s own map of Ray trial ids to Optuna trials (the live dict: an entry
    put in it is the Optuna trial the searcher reports that Ray trial to)."""
    trials = getattr(searcher, "_ot_trials", None)
    if not isinstance(trials, dict):
        _fail("OptunaSearch._ot_trials", "is gone or not a dict", _SEARCH)
    return trials


def _check_optuna_search() -> None:
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch({"x": optuna.distributions.FloatDistribution(0, 1)}, metric="m",
                            mode="max", sampler=optuna.samplers.RandomSampler(seed=0))
    optuna_search_study(searcher)
    optuna_search_trials(searcher)
    searcher.suggest("check")
    trial = optuna_search_trials(searcher).get("check")
    if not isinstance(trial, optuna.trial.Trial):
        _fail("OptunaSearch._ot_trials", "no longer maps a Ray trial id to its Optuna trial",
              _SEARCH)


def check() -> None:
    """Try every Ray internal this package uses; IncompatibleLibrary names the first missing."""
    import optuna
    from ray._private import worker

    if "_global_node" not in vars(worker):
        _fail("ray._private.worker._global_node", "is gone", _OWNS)
    from ray._private.node import Node

    _has_params(Node, {"head"}, "ray._private.node.Node(head=...)", _OWNS)
    started_local_instance()
    _node_class()
    from ray.tune.execution import class_cache

    if not isinstance(getattr(class_cache, "DEFAULT_ENV_VARS", None), dict):
        _fail("ray.tune.execution.class_cache.DEFAULT_ENV_VARS", "is gone or not a dict",
              _PRESTARTED)
    _check_restore()
    _check_schedulers()
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        _check_optuna_search()
    finally:
        optuna.logging.set_verbosity(verbosity)
