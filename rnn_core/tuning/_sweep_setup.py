"""What ``run_sweep`` builds from a spec before Ray runs it: the axes it checks, the space
Ray enumerates, the scheduler, the searcher asked as slots free, the slots, run names."""

from __future__ import annotations

import math
from typing import Any

from rnn_core.errors import ConfigError
from rnn_core.tuning._spec import ASHA_FILE, SweepSpec, sidecar
from rnn_core.tuning._storage import Place
from search_spaces.grids import given_points as _given_points
from search_spaces.grids import point_keys


def _param_space(spec: SweepSpec, axes: dict[str, list]) -> dict[str, Any]:
    """What Ray Tune enumerates: the grid's axes (a repeated grid's seed axis included); under
    a sampled search only the fixed values, the searcher holding the rest (Ray refuses
    unresolved values beside a searcher that has its own space)."""
    from rnn_core.tuning._search import grid_param_space, optuna_space

    if _given_points(spec.param_space):  # the searcher gives every configuration
        from rnn_core.tuning._points import union_param_space

        return ({} if spec.search == "coefficient" else union_param_space(
            spec.param_space, spec.num_samples, spec.seed))
    if spec.search == "grid":
        return grid_param_space({**spec.param_space, **axes})
    return optuna_space(spec.param_space)[2]


def _name_extra(spec: SweepSpec, task) -> tuple[str, ...]:
    """Keys a search varies that the task's run names leave out: every list or distribution
    of a sampled search, and a grid's axes of two or more values (two trials of a grid would
    otherwise share a run name)."""
    if _given_points(spec.param_space):
        return ()
    from search_spaces.distributions import Distribution

    named = {k for k, _ in task.name_keys} | {"variant", "bidirectional", "embedding"}
    if spec.search == "grid":
        return tuple(k for k, v in spec.param_space.items()
                     if k not in named and isinstance(v, list) and len(v) > 1)
    return tuple(k for k, v in spec.param_space.items()
                 if k not in named and isinstance(v, list | Distribution))


def _optuna_tags(searcher):
    """``trial_id -> {"optuna_trial": number}`` for the MLflow child runs of an Optuna search."""
    number = getattr(searcher, "trial_number", None)
    if number is None:
        return None

    def tags(trial_id: str) -> dict[str, str]:
        n = number(trial_id)
        return {} if n is None else {"optuna_trial": str(n)}

    return tags


def _axes(spec: SweepSpec) -> dict[str, list]:
    """The grid's axes; ``num_samples`` repeats become a ``seed`` axis (base seed, +1, ...),
    so each repeat trains with its own seed and run name, not as an identical copy.

    Raises ConfigError for a spec no sweep can run, before any work.
    """
    from rnn_core.tuning._asha import rung_epochs

    given = _given_points(spec.param_space)
    axes = {} if given else {k: v for k, v in spec.param_space.items() if isinstance(v, list)}
    if given and spec.num_samples > 1 and "seed" in point_keys(spec.param_space):
        raise ConfigError("num_samples repeats the configurations with seeds of their own; "
                          "they already set a seed: use one or the other")
    if spec.search == "grid" and spec.num_samples > 1 and not given:
        if "seed" in axes:
            raise ConfigError("num_samples repeats the grid with seeds of its own; the grid "
                              "already has a seed axis: use one or the other")
        seed = int(spec.param_space.get("seed", spec.seed))
        axes["seed"] = [seed + k for k in range(spec.num_samples)]
    if spec.scheduler in ("asha", "sha"):
        try:
            rung_epochs(spec.grace_period, spec.reduction_factor, spec.max_epochs)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    n = spec.n_trials
    if spec.num_samples == 0:  # an open stream
        if spec.search == "grid" or given:
            raise ConfigError("num_samples 0 (trials until the time budget) needs a sampled "
                              "search (random, tpe); a grid's trials are fixed")
        if spec.time_budget_s is None:
            raise ConfigError("num_samples 0 adds trials until the time budget is spent; "
                              "set time_budget_s (or a number of trials)")
        if spec.scheduler == "sha":
            raise ConfigError("num_samples 0 (trials until the time budget) runs with asha "
                              "or fifo: sha fixes its brackets from every trial up front")
        return axes
    if spec.scheduler == "sha" and (spec.max_concurrent_trials or n) < n:
        raise ConfigError(f"max_concurrent_trials {spec.max_concurrent_trials} with "
                          f"synchronous halving: every one of the {n} trials must reach a rung "
                          "before any goes on; use asha")
    return axes


def _samples(spec: SweepSpec) -> int:
    """Ray's ``num_samples`` for a sampled search: its budget; for an open stream as many as
    the space has configurations (a searcher proposes none twice), endless (-1) where it has
    a continuous one: the time budget ends it."""
    if spec.num_samples:
        return spec.num_samples
    from search_spaces.distributions import n_points

    points = n_points(spec.param_space)
    return -1 if math.isinf(points) else int(points)


def _scheduler(spec: SweepSpec, folder: Place, slots: int, resumed: bool = False,
               closed: frozenset[str] = frozenset()):
    """The sweep's scheduler; on --resume (``resumed``) ``closed`` names the trials whose
    MLflow runs had ended, which Ray's saved trial list may restore unfinished
    (``_restored_ends``)."""
    scheduler = _new_scheduler(spec, folder, slots, resumed)
    scheduler.closed = closed
    return scheduler


def _new_scheduler(spec: SweepSpec, folder: Place, slots: int, resumed: bool):
    from rnn_core.tuning._asha import PromotionASHA
    from rnn_core.tuning._asks import RestoredFIFO
    from rnn_core.tuning._scheduling import SuccessiveHalving

    n = spec.n_trials
    if spec.scheduler == "asha":
        return PromotionASHA(n, spec.grace_period, spec.max_epochs, spec.reduction_factor,
                             state_file=sidecar(folder) / ASHA_FILE,
                             max_running=spec.max_concurrent_trials, slots=slots,
                             slots_source=ClusterSlots(spec.cpus_per_trial,
                                                       spec.gpus_per_trial,
                                                       spec.max_concurrent_trials))
    if spec.scheduler == "sha":
        return SuccessiveHalving(n, spec.grace_period, spec.max_epochs, spec.reduction_factor)
    return RestoredFIFO(resumed)


def _asked_as_slots_free(searcher, scheduler, slots: int, cap: int | None = None):
    """A searcher goes through a generator that settles a resumed sweep's lost trials before
    Ray first asks whether the search has finished (``_asks.SettledGenerator``). Under ASHA
    by promotion it is asked for a trial only when one would start (``_asks.AskWhenFree``);
    under FIFO Ray's own limit (``cap``, ``max_concurrent_trials``) holds, set here because
    Ray ignores it for a generator it is given. A grid's trials (Ray's variant generator) are
    all known up front; SHA's sweeps are not resumed."""
    from ray.tune.search import ConcurrencyLimiter, Searcher

    from rnn_core.tuning._asha import PromotionASHA
    from rnn_core.tuning._asks import AskWhenFree, RestoredFIFO, SettledGenerator

    if isinstance(searcher, Searcher) and isinstance(scheduler, PromotionASHA):
        return SettledGenerator(AskWhenFree(searcher, scheduler, slots), scheduler)
    if isinstance(searcher, Searcher) and isinstance(scheduler, RestoredFIFO):
        return SettledGenerator(ConcurrencyLimiter(searcher, max_concurrent=cap) if cap
                                else searcher, scheduler)
    return searcher


def _slots(spec: SweepSpec) -> int:
    """Trials the cluster trains at once, as it stands when the sweep starts (Ray connected)."""
    return ClusterSlots(spec.cpus_per_trial, spec.gpus_per_trial, spec.max_concurrent_trials)()


class ClusterSlots:
    """Trials the cluster trains at once as it stands when called (Ray connected): its CPUs
    over a trial's CPUs, its GPUs over a trial's GPUs where trials take them, under
    ``max_concurrent_trials``. ASHA gives a slot this leaves free to a speculative promotion,
    and counts again as nodes go and come (``slots_source``). A class, not a closure: Ray
    pickles the scheduler with the sweep."""

    def __init__(self, cpus: float, gpus: float, max_concurrent: int | None) -> None:
        self.cpus, self.gpus, self.max_concurrent = cpus, gpus, max_concurrent

    def __call__(self) -> int:
        import ray

        return slots_of(ray.cluster_resources(), self.cpus, self.gpus, self.max_concurrent)


def slots_of(have: dict, cpus: float, gpus: float, max_concurrent: int | None) -> int:
    """Trials that fit at once in the resources ``have`` (Ray's names: CPU, GPU)."""
    counts = []
    if cpus > 0:
        counts.append(int(have.get("CPU", 0) // cpus))
    if gpus > 0:
        counts.append(int(have.get("GPU", 0) // gpus))
    if max_concurrent:
        counts.append(max_concurrent)
    return max(1, min(counts, default=1))
