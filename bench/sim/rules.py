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


CERTAIN = ("promote", "early", "confirm")


def check_log(state: dict, rf: float, exact: bool = True) -> list[str]:
    """Replay a ``PromotionASHA`` state file's log; what breaks its rules.

    Every certain promotion (``promote``, ``early``, ``confirm``) went to the best trial then
    in its rung's pool (waiting there, or gone on speculatively; equal objectives: the
    earlier arrival), one beyond ``floor(arrived / rf)`` to a trial in the rung's final top
    ``ceil(n / rf)``; no rung promoted more than that; a ``speculate`` went to the best trial
    waiting at its rung, a ``confirm`` and an ``unspeculate`` to a trial gone on
    speculatively from that rung, and no trial arrived at a rung while speculative from the
    rung below (held there until confirmed); every stop and end hit a waiting (or
    speculative) trial; no trial is left waiting or speculative. ``exact=False`` when a trial
    failed for good: one that could still arrive when an early promotion was given then never
    did, so the rung's final top can be smaller than the one the promotion was sure of.

    A ``forget`` (a trial the saved state names and a resumed driver's Ray does not know)
    takes the trial out of every rung, its arrival and promotions included, as the scheduler
    does. The saved rungs no longer hold its objective, so before it is forgotten it counts
    in its rungs' arrivals and promotions but is ranked against no trial; and an early
    promotion given before the last ``forget`` is held to no final top (it was sure of a top
    that counted the trial since lost, as one of ``exact=False``).
    """
    log = state["log"]
    lost = {tid for event, _, tid in log if event == "forget"}
    last_forget = max((i for i, (event, _, _) in enumerate(log) if event == "forget"),
                      default=-1)
    rungs = state["rungs"]
    final = {m: len(r) for m, r in rungs.items()}
    order = {m: {t: i for i, t in enumerate(r)} for m, r in rungs.items()}
    below = dict(zip(list(rungs)[1:], list(rungs), strict=False))
    waiting: dict[str, set[str]] = {m: set() for m in rungs}
    spec: dict[str, set[str]] = {m: set() for m in rungs}
    arrived: dict[str, set[str]] = {m: set() for m in rungs}
    promoted: dict[str, set[str]] = {m: set() for m in rungs}
    out = []
    for i, (event, m, tid) in enumerate(log):
        if event == "forget":
            for kept in (*waiting.values(), *spec.values(), *arrived.values(),
                         *promoted.values()):
                kept.discard(tid)
            continue
        m = str(m)
        if m not in rungs:  # a stop of a trial restored as unfinished after it was stopped
            continue

        def rank(t: str, m: str = m) -> tuple[float, int]:
            return -rungs[m][t], order[m][t]

        if event == "arrive":
            if m in below and tid in spec[below[m]]:
                out.append(f"{tid} counted at rung {m} while speculative from rung {below[m]}")
            waiting[m].add(tid)
            arrived[m].add(tid)
            continue
        if event in ("confirm", "unspeculate") or (event == "end" and tid in spec[m]):
            if tid not in spec[m]:
                out.append(f"{event} of {tid} at rung {m}, which it had not left speculatively")
                continue
            pool = (waiting[m] | spec[m]) - lost
            spec[m].discard(tid)
        else:
            if tid not in waiting[m]:
                out.append(f"{event} of {tid} at rung {m}, where it was not waiting")
                continue
            pool = (waiting[m] | spec[m]) - lost
            waiting[m].discard(tid)
        if event in ("stop", "end", "unspeculate"):
            continue
        if event == "speculate":
            if tid not in lost and min(pool - spec[m], key=rank) != tid:
                out.append(f"{tid} speculated at rung {m} over a better waiting trial")
            spec[m].add(tid)
            continue
        if tid not in lost and min(pool, key=rank) != tid:
            out.append(f"{tid} promoted at rung {m} over a better (or earlier equal) trial")
        promoted[m].add(tid)
        quota, given, came = math.ceil(final[m] / rf), len(promoted[m]), len(arrived[m])
        if event == "promote" and given > came // rf:
            out.append(f"{tid}: promotion {given} at rung {m} after {came} arrivals")
        if (exact and i > last_forget and event != "promote" and given > came // rf
                and tid not in sorted(rungs[m], key=rank)[:quota]):
            out.append(f"{tid} promoted early at rung {m}, not in its final top {quota}")
    for m in rungs:
        if len(promoted[m]) > math.ceil(final[m] / rf):
            out.append(f"rung {m}: {len(promoted[m])} promotions of {final[m]} arrivals")
        if waiting[m]:
            out.append(f"rung {m}: {sorted(waiting[m])[:3]} left waiting")
        if spec[m]:
            out.append(f"rung {m}: {sorted(spec[m])[:3]} left speculative (neither confirmed "
                       "nor stopped)")
    return out


class Referee:
    """ASHA's rules, checked from what each trial did.

    A trial that goes on from a rung is promoted for sure unless the scheduler logged a
    ``speculate`` for it (``event``): then it may train up to the next rung (or the last
    epoch), where it must wait, uncounted, until a ``confirm`` counts it there, or stop.
    ``n`` None: an open stream, whose rungs promote within ``floor(arrived / rf)``.
    """

    def __init__(self, rungs: list[int], rf: float, n: int | None,
                 max_t: int | None = None) -> None:
        self.rungs, self.rf, self.n = rungs, rf, n
        # a sweep of one epoch has no rung, and no next one
        ends = [*rungs[1:], max_t if max_t is not None else math.inf][:len(rungs)]
        self.next = dict(zip(rungs, ends, strict=True))
        self.arrived: dict[int, dict[str, float]] = {m: {} for m in rungs}  # counted
        self.waiting: dict[int, set[str]] = {m: set() for m in rungs}
        self.promoted: dict[int, list[str]] = {m: [] for m in rungs}
        self.early: dict[int, list[str]] = {m: [] for m in rungs}  # beyond floor(arrived / rf)
        self.stopped: dict[int, set[str]] = {m: set() for m in rungs}
        self.spec: dict[str, int] = {}  # gone on speculatively, unconfirmed: -> its rung
        self.claimed: set[tuple[int, str]] = set()  # speculations logged, not yet taken
        self.held: dict[str, tuple[int, float]] = {}  # reported at the next rung, unconfirmed
        self.violations: list[str] = []

    def arrive(self, m: int, tid: str, value: float) -> None:
        if tid in self.spec:  # not counted at this rung until confirmed at the one below
            self.held[tid] = (m, value)
            return
        if tid not in self.arrived[m]:
            self.arrived[m][tid] = value
        self.waiting[m].add(tid)

    def event(self, event: str, m, tid: str) -> None:
        """One entry of the scheduler's log, as it is written."""
        if event == "speculate":
            self.claimed.add((int(m), tid))
        elif event == "confirm":
            m = int(m)
            if self.spec.get(tid) != m:
                self.violations.append(f"{tid} confirmed at rung {m} without speculating")
                return
            self._check_best(m, tid, self.waiting[m] | self._spec_at(m))
            del self.spec[tid]
            self._count(m, tid)
            if tid in self.held:
                nxt, value = self.held.pop(tid)
                self.arrive(nxt, tid, value)
        elif event == "arrive" and tid in self.spec and self.next.get(self.spec[tid]) == int(m):
            self.violations.append(f"{tid} counted at rung {m} while speculative")

    def _spec_at(self, m: int) -> set[str]:
        return {t for t, r in self.spec.items() if r == m}

    def _check_best(self, m: int, tid: str, pool: set[str]) -> None:
        best = max(self.arrived[m][t] for t in pool)
        if self.arrived[m][tid] < best:
            self.violations.append(f"{tid} promoted at rung {m} over a better waiting trial")
        # equal objectives: the earlier arrival at the rung first (dicts keep arrival order)
        first = next(t for t in self.arrived[m] if t in pool and self.arrived[m][t] == best)
        if self.arrived[m][tid] == best and tid != first:
            self.violations.append(
                f"{tid} promoted at rung {m} before {first}, which ties with it and arrived first"
            )

    def _count(self, m: int, tid: str) -> None:
        if tid in self.promoted[m]:
            self.violations.append(f"{tid} promoted twice at rung {m}")
        self.promoted[m].append(tid)
        if len(self.promoted[m]) > len(self.arrived[m]) // self.rf:
            if self.n is None:  # an open stream: no final count to promote early against
                self.violations.append(
                    f"{tid}: promotion {len(self.promoted[m])} at rung {m} after "
                    f"{len(self.arrived[m])} arrivals, beyond floor(arrived / rf)")
            self.early[m].append(tid)

    def promote(self, m: int, tid: str) -> None:
        """``tid`` went on from rung ``m``: promoted, or speculatively where logged so."""
        if tid not in self.waiting[m]:
            self.violations.append(f"{tid} promoted at rung {m} without waiting there")
            return
        if (m, tid) in self.claimed:
            self.claimed.discard((m, tid))
            self._check_best(m, tid, self.waiting[m])
            self.waiting[m].discard(tid)
            self.spec[tid] = m
            return
        self._check_best(m, tid, self.waiting[m] | self._spec_at(m))
        self.waiting[m].discard(tid)
        self._count(m, tid)

    def leave(self, tid: str, stopped: bool) -> None:
        self.held.pop(tid, None)
        if (m := self.spec.pop(tid, None)) is not None and stopped:
            self.stopped[m].add(tid)
        for m in self.rungs:
            if tid in self.waiting[m]:
                self.waiting[m].discard(tid)
                if stopped:
                    self.stopped[m].add(tid)

    def passed(self, tid: str, epoch: int) -> None:
        """A trial reported ``epoch``: it must have been promoted at every rung below (at the
        last one passed, speculatively will do up to the next rung)."""
        for m in self.rungs:
            if m < epoch and tid in self.arrived[m] and tid not in self.promoted[m]:
                if self.spec.get(tid) == m and epoch <= self.next[m]:
                    continue
                self.violations.append(
                    f"{tid} trained to epoch {epoch} past rung {m} without a promotion"
                )

    def finish(self, exact: bool) -> None:
        """The sweep ended: every rung gave synchronous halving's promotions, early ones to
        its final top. An open stream (``n`` None) completes no rung: its promotions were
        checked as they came (within ``floor(arrived / rf)``, each to the best waiting)."""
        exact = exact and self.n is not None
        for m in self.rungs:
            n, got = len(self.arrived[m]), len(self.promoted[m])
            quota = math.ceil(n / self.rf) if self.n is not None else n // self.rf
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
        if self.spec:
            self.violations.append(
                f"{len(self.spec)} speculative trials neither confirmed nor stopped, "
                f"e.g. {sorted(self.spec)[:3]}"
            )
