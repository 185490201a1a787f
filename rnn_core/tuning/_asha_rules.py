"""ASHA by promotion's rule, read off its state: where trials are compared
(``rung_epochs``), how many trials each rung will have and may have promoted by now, the best
trial a rung may promote (``_candidate``), a trial's chances there and the trials that stop
once a rung is complete.

``RungRules`` is mixed into ``_asha.PromotionASHA``: it only reads the scheduler's state
(``_asha_state.RungState``, the ended trials, the trials on their way to a rung), which the
scheduler changes.
"""

from __future__ import annotations

import itertools
import math

__all__ = ["RungRules", "rung_epochs"]


def rung_epochs(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """Where trials are compared: ``grace * rf**k`` below ``max_t``, then ``max_t`` itself.

    ``reduction_factor`` must be a whole number of 2 or more: at 1 or below the rungs never
    reach ``max_t``, and a fraction rounds two rungs onto the same epoch (1.5: 1, 1, 2, 3).
    """
    if reduction_factor != int(reduction_factor) or reduction_factor < 2:
        raise ValueError(f"reduction factor {reduction_factor}: expected a whole number of "
                         "2 or more")
    rungs, r = [], int(grace_period)
    while r < max_t:
        rungs.append(r)
        r *= int(reduction_factor)
    return [*rungs, int(max_t)]


class RungRules:
    """The certain rule of ``PromotionASHA`` (its class docstring states it)."""

    def _best(self, m: int) -> str | None:
        """The best of rung ``m``'s candidates for promotion (waiting there, or gone on
        speculatively); equal objectives by arrival at the rung, never set order."""
        ranked = self._state.ranked[m]
        return ranked[0][2] if ranked else None

    def _next(self, m: int) -> int:
        i = self.milestones.index(m)
        return self.milestones[i + 1] if i + 1 < len(self.milestones) else self.max_t

    def _left(self, m: int) -> int:
        """Promotions rung ``m`` still gives (exact unless a trial fails for good)."""
        if self.n_trials is None:
            return math.inf  # an open stream: a rung never completes
        i = self.milestones.index(m)
        return math.ceil(self._could(i) / self.rf) - len(self.promoted[m])

    def _out(self, m: int, tid: str) -> bool:
        """No promotion left at rung ``m`` can go to ``tid``: as many trials of the rung's pool
        rank above it as promotions are left."""
        return self._state.rank(m, tid) >= self._left(m)

    def _could(self, i: int) -> int:
        """Trials that have reached rung ``milestones[i]`` or still can (exact unless a trial
        fails for good on the way)."""
        return self._counts()[i][1]

    def _counts(self) -> list[tuple[int, int]]:
        """Per rung: (trials arrived, trials arrived or that still can). Computed once per
        change of the state or of the ended trials (the scheduler asks for them several
        times per call, and a count runs over a rung's promotions)."""
        version = (self._state.changes, len(self.ended))
        if self._counted[0] == version:
            return self._counted[1]
        out: list[tuple[int, int]] = []
        for i, m in enumerate(self.milestones):
            if self.n_trials is None:  # an open stream: trials can always still arrive
                out.append((len(self.rungs[m]), math.inf))
                continue
            if i == 0:
                could = self.n_trials - self._ended_before[m]
            else:
                below = self.milestones[i - 1]
                on_way = len(self._on_way[m])
                still = max(0, math.ceil(out[-1][1] / self.rf) - len(self.promoted[below]))
                could = len(self.rungs[m]) + on_way + still
            out.append((len(self.rungs[m]), could))
        self._counted = (version, out)
        return out

    def _quotas(self) -> list[int]:
        """How many promotions each rung may have given by now (see the class docstring)."""
        out = []
        for arrived, could in self._counts():
            if self.n_trials is None:  # the paper's rule alone: no final count to be sure of
                out.append(int(arrived // self.rf))
                continue
            final = math.ceil(could / self.rf)
            out.append(min(final, max(int(arrived // self.rf), final - (could - arrived))))
        return out

    def _candidate(self) -> tuple[int, str] | None:
        """Li et al.'s get_job: the best promotable trial, highest rung first."""
        quotas = self._quotas()
        for i in reversed(range(len(self.milestones))):
            m = self.milestones[i]
            if len(self.promoted[m]) < quotas[i] and (best := self._best(m)) is not None:
                return m, best
        return None

    def _keep(self, m: int) -> int | None:
        """At a rung no trial can reach any more, how many of its pool still go on (the rest
        stop); None while trials can still arrive there."""
        i = self.milestones.index(m)
        could = self._could(i)
        if could != len(self.rungs[m]):
            return None
        return max(0, math.ceil(could / self.rf) - len(self.promoted[m]))

    def _dropouts(self):
        """Trials waiting at a rung no trial can reach any more, below its last promotions:
        they stop (in rank order, worst last; read lazily: one stop a call)."""
        for m in self.milestones:
            if self._at[m] and (keep := self._keep(m)) is not None:
                yield from (t for _, _, t in itertools.islice(self._state.ranked[m], keep, None)
                            if t in self._at[m])

    def _drops_out(self, m: int, tid: str) -> bool:
        """``tid``, waiting at ``m``, is one of ``_dropouts``."""
        keep = self._keep(m)
        return keep is not None and self._state.rank(m, tid) >= keep

