"""How short a sweep can be at all: a lower bound on the makespan, and on when the pick
finishes, for any scheduler that keeps a sweep's settled promotions.

A scheduler that promotes exactly the trials a run of ``PromotionASHA`` promoted for certain
(its ``promoted`` sets, the settled promotions) must train every trial to the depth that run
trained it: each trial to the first rung, the promoted ones on to the next, the last rung's
promoted trials (``final``) to ``max_t``. Whatever it does with the slots left over, two
things bound its makespan from below:

- work: those trial-epochs' seconds, over the slots;
- a chain: a trial of ``final`` runs its ``max_t`` epochs one after another, from when it
  started. Trials start in the order the searcher proposes them (Ray adds them in that order).
  Starting each one in the first slot to free up, with the slots doing nothing but first
  epochs, starts every trial as early as any schedule can that starts them in that order (by
  induction: trial ``k`` can start neither before trial ``k - 1`` nor before ``k - slots`` of
  the trials before it have ended their first epoch, and in this schedule each of them ended
  it as early as it could). So the ``k``-th trial starts no sooner than that schedule's ``k``-th
  start, and a ``final`` trial ends no sooner than its start plus its epochs.

The pick (the best final value among ``final``) likewise finishes no sooner than its start plus
its epochs. A scheduler cannot start trials in an order that knows their quality or speed
before they run, so any order it chooses has the same distribution of the bound over seeds
as the proposal order: the mean over seeds bounds every such scheduler. Retries after a
failure only add work: the bound is for sweeps without failures, and leaves out checkpoint
saves.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from bench.sim.config import SimConfig, SimResult, draw_curves
from bench.sim.curves import Curves
from rnn_core.tuning import rung_epochs

__all__ = ["Bound", "settled_bound", "start_times", "sweep_bound"]


@dataclass(frozen=True)
class Bound:
    makespan: float  # max(work, chain)
    anytime: float  # the pick's start plus its epochs (nan without a trial trained to max_t)
    work: float  # the settled trial-epochs' seconds over the slots
    chain: float  # the latest start plus epochs among the trials trained to max_t


def start_times(first_epochs: list[float], slots: int) -> list[float]:
    """When each trial starts if slots run first epochs only, in order, each trial in the
    first slot to free up."""
    free = [0.0] * min(slots, len(first_epochs))
    starts = []
    for seconds in first_epochs:
        at = heapq.heappop(free)
        starts.append(at)
        heapq.heappush(free, at + seconds)
    return starts


def settled_bound(curves: Curves, slots: int, grace: int, rf: float, max_t: int,
                  promoted: dict[int, set[int]]) -> Bound:
    """The bound for trials ``0..n-1`` of ``curves`` (in proposal order) whose settled
    promotions were ``promoted`` (rung epoch -> indices of the trials promoted from it)."""
    n = len(curves.times)
    rungs = rung_epochs(grace, rf, max_t)
    depth = [rungs[0]] * n
    for m, nxt in zip(rungs, rungs[1:], strict=False):
        for i in promoted.get(m, ()):
            depth[i] = max(depth[i], nxt)
    final = [i for i in range(n) if depth[i] >= max_t]
    starts = start_times([curves.epoch_time(i, 1) for i in range(n)], slots)

    def end(i: int) -> float:
        return starts[i] + sum(curves.times[i][:max_t])

    work = sum(sum(curves.times[i][:depth[i]]) for i in range(n)) / slots
    chain = max((end(i) for i in final), default=0.0)
    pick = max(final, key=curves.final, default=None)
    return Bound(makespan=max(work, chain), anytime=end(pick) if pick is not None else float("nan"),
                 work=work, chain=chain)


def sweep_bound(cfg: SimConfig, seed: int, result: SimResult) -> Bound:
    """The bound for a simulated sweep (``simulate(..., cfg, seed)`` without failures) whose
    settled promotions were ``result.promoted``: the same seed's trials."""
    def index(tid: str) -> int:
        return int(tid.rsplit("_", 1)[1])

    promoted = {m: {index(t) for t in tids} for m, tids in result.promoted.items()}
    return settled_bound(draw_curves(cfg, random.Random(seed)), cfg.slots, cfg.grace, cfg.rf,
                         cfg.max_t, promoted)
