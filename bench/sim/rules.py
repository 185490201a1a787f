"""Asynchronous successive halving's rules, checked from outside the scheduler: from what each
trial did (``Referee``, fed by the simulated controller ``bench.sim.controller``) and from the
log a ``PromotionASHA`` saves (``check_log``, also on a real sweep's state file)."""

from __future__ import annotations

import math

from rnn_core.tuning import rung_epochs

__all__ = ["Referee", "check_log", "sha_budget"]


def sha_budget(n: int, grace: int, rf: float, max_t: int) -> int:
    """Trial-epochs of synchronous halving: ``n_k`` trials train from rung k-1 to rung k,
    ``n_{k+1} = ceil(n_k / rf)``."""
    total, prev = 0, 0
    for r in rung_epochs(grace, rf, max_t):
        total += n * (r - prev)
        n, prev = math.ceil(n / rf), r
    return total


def check_log(state: dict, rf: float, exact: bool = True) -> list[str]:
    """Replay a ``PromotionASHA`` state file's log; what breaks its rules.

    Every promotion went to the best trial then waiting at its rung (equal objectives: the
    earlier arrival), a ``promote`` within ``floor(arrived / rf)``, an ``early`` one to a trial
    in the rung's final top ``ceil(n / rf)``; no rung promoted more than that; every stop and
    end hit a waiting trial; no trial is left waiting. ``exact=False`` when a trial failed for
    good: one that could still arrive when an early promotion was given then never did, so
    the rung's final top can be smaller than the one the promotion was sure of.
    """
    rungs = state["rungs"]
    final = {m: len(r) for m, r in rungs.items()}
    order = {m: {t: i for i, t in enumerate(r)} for m, r in rungs.items()}
    waiting: dict[str, set[str]] = {m: set() for m in rungs}
    arrived, promoted = dict.fromkeys(rungs, 0), dict.fromkeys(rungs, 0)
    out = []
    for event, m, tid in state["log"]:
        m = str(m)
        if m not in rungs:  # a stop of a trial restored as unfinished after it was stopped
            continue
        if event == "arrive":
            waiting[m].add(tid)
            arrived[m] += 1
            continue
        if tid not in waiting[m]:
            out.append(f"{event} of {tid} at rung {m}, where it was not waiting")
            continue
        waiting[m].discard(tid)
        if event in ("stop", "end"):
            continue

        def rank(t: str, m: str = m) -> tuple[float, int]:
            return -rungs[m][t], order[m][t]

        if min(waiting[m] | {tid}, key=rank) != tid:
            out.append(f"{tid} promoted at rung {m} over a better (or earlier equal) trial")
        promoted[m] += 1
        quota = math.ceil(final[m] / rf)
        if event == "promote" and promoted[m] > arrived[m] // rf:
            out.append(f"{tid}: promotion {promoted[m]} at rung {m} after {arrived[m]} arrivals")
        if exact and event == "early" and tid not in sorted(rungs[m], key=rank)[:quota]:
            out.append(f"{tid} promoted early at rung {m}, not in its final top {quota}")
    for m in rungs:
        if promoted[m] > math.ceil(final[m] / rf):
            out.append(f"rung {m}: {promoted[m]} promotions of {final[m]} arrivals")
        if waiting[m]:
            out.append(f"rung {m}: {sorted(waiting[m])[:3]} left waiting")
    return out


class Referee:
    """ASHA's rules, checked from what each trial did."""

    def __init__(self, rungs: list[int], rf: float, n: int) -> None:
        self.rungs, self.rf, self.n = rungs, rf, n
        self.arrived: dict[int, dict[str, float]] = {m: {} for m in rungs}
        self.waiting: dict[int, set[str]] = {m: set() for m in rungs}
        self.promoted: dict[int, list[str]] = {m: [] for m in rungs}
        self.early: dict[int, list[str]] = {m: [] for m in rungs}  # beyond floor(arrived / rf)
        self.stopped: dict[int, set[str]] = {m: set() for m in rungs}
        self.violations: list[str] = []

    def arrive(self, m: int, tid: str, value: float) -> None:
        if tid not in self.arrived[m]:
            self.arrived[m][tid] = value
        self.waiting[m].add(tid)

    def promote(self, m: int, tid: str) -> None:
        if tid not in self.waiting[m]:
            self.violations.append(f"{tid} promoted at rung {m} without waiting there")
            return
        best = max(self.arrived[m][t] for t in self.waiting[m])
        if self.arrived[m][tid] < best:
            self.violations.append(f"{tid} promoted at rung {m} over a better waiting trial")
        # equal objectives: the earlier arrival at the rung first (dicts keep arrival order)
        first = next(
            t for t in self.arrived[m] if t in self.waiting[m] and self.arrived[m][t] == best
        )
        if self.arrived[m][tid] == best and tid != first:
            self.violations.append(
                f"{tid} promoted at rung {m} before {first}, which ties with it and arrived first"
            )
        if tid in self.promoted[m]:
            self.violations.append(f"{tid} promoted twice at rung {m}")
        self.waiting[m].discard(tid)
        self.promoted[m].append(tid)
        if len(self.promoted[m]) > len(self.arrived[m]) // self.rf:
            self.early[m].append(tid)

    def leave(self, tid: str, stopped: bool) -> None:
        for m in self.rungs:
            if tid in self.waiting[m]:
                self.waiting[m].discard(tid)
                if stopped:
                    self.stopped[m].add(tid)

    def passed(self, tid: str, epoch: int) -> None:
        """A trial reported ``epoch``: it must have been promoted at every rung below."""
        for m in self.rungs:
            if m < epoch and tid in self.arrived[m] and tid not in self.promoted[m]:
                self.violations.append(
                    f"{tid} trained to epoch {epoch} past rung {m} without a promotion"
                )

    def finish(self, exact: bool) -> None:
        for m in self.rungs:
            n, got = len(self.arrived[m]), len(self.promoted[m])
            quota = math.ceil(n / self.rf)
            if got > quota or (exact and got != quota):
                self.violations.append(
                    f"rung {m}: {got} promotions of {n} arrivals, synchronous halving gives {quota}"
                )
            top = sorted(self.arrived[m].values(), reverse=True)[:quota]
            cut = top[-1] if top else math.inf
            # an early promotion is sure of the final top counting the trials that could still
            # arrive; one of those failing for good makes that top smaller (check_log)
            for tid in self.early[m] if exact else []:
                if self.arrived[m][tid] < cut:
                    self.violations.append(
                        f"{tid} promoted early at rung {m} but is not "
                        f"in the rung's final top {quota}"
                    )
            if self.waiting[m]:
                self.violations.append(
                    f"rung {m}: {len(self.waiting[m])} trials left "
                    f"waiting, e.g. {sorted(self.waiting[m])[:3]}"
                )
