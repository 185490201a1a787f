"""How sure a test figure is: intervals for one figure, paired tests for two models on the same
test examples (NumPy only; the tests check each against scipy and hand-computed values).

A test accuracy is k correct of n examples: Wilson's score interval covers it honestly near 0
and 1 and at small n, where the normal approximation runs past the bounds. Perplexity is a
mean over examples of unequal length, so its interval is a bootstrap over the examples
(documents, sentences), seeded so a report rebuilds the same figures.

Two models scored on the same examples are compared paired, which is far sharper than two
independent intervals: McNemar's exact test on the examples where exactly one of them is right,
and a paired bootstrap of the difference for perplexity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Interval", "PairedComparison", "bootstrap_ppl", "mcnemar_exact", "paired_accuracy",
           "paired_ppl", "wilson"]

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile
RESAMPLES = 1000


@dataclass(frozen=True)
class Interval:
    """A figure with its 95 % interval and the number of examples it rests on."""

    value: float
    low: float
    high: float
    n: int

    def text(self, digits: int = 4, scale: float = 1.0) -> str:
        """``0.8806 (95 % CI 0.8741-0.8869, n = 9,917)``."""
        v, lo, hi = (x * scale for x in (self.value, self.low, self.high))
        return f"{v:.{digits}f} (95 % CI {lo:.{digits}f}-{hi:.{digits}f}, n = {self.n:,})"


def wilson(k: int, n: int, z: float = Z95) -> Interval:
    """Wilson's score interval for k successes in n trials (n = 0: the whole [0, 1])."""
    if n <= 0:
        return Interval(float("nan"), 0.0, 1.0, 0)
    if not 0 <= k <= n:
        raise ValueError(f"k = {k} successes out of n = {n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at k = 0 or k = n one bound is exactly 0 or 1; rounding must not leave it a hair inside
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return Interval(p, low, high, n)


def _ppl(nll: np.ndarray, tokens: np.ndarray) -> float:
    return float(np.exp(nll.sum() / tokens.sum()))


def bootstrap_ppl(nll: np.ndarray, tokens: np.ndarray, seed: int = 0,
                  resamples: int = RESAMPLES) -> Interval:
    """Perplexity exp(sum NLL / sum tokens) over examples (summed NLL and token count of each),
    with the percentile interval of ``resamples`` bootstrap draws of the examples."""
    nll, tokens = np.asarray(nll, np.float64), np.asarray(tokens, np.float64)
    n = len(nll)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    draws = np.exp(nll[idx].sum(1) / np.maximum(tokens[idx].sum(1), 1))
    low, high = np.percentile(draws, [2.5, 97.5])
    return Interval(_ppl(nll, tokens), float(low), float(high), n)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: ``b`` examples only model A got right, ``c`` only B.

    Under the null each discordant example is a fair coin, so the p-value is the binomial
    test's: twice the smaller tail of Binomial(b + c, 1/2), capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class PairedComparison:
    """A minus B on the same test examples: the difference, its 95 % interval, the p-value."""

    difference: float
    low: float
    high: float
    p_value: float
    n: int
    test: str  # "McNemar exact", "paired bootstrap"

    def distinguishable(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha

    def text(self, unit: str = "points", scale: float = 100.0, digits: int = 1) -> str:
        """``+0.9 points, 95 % CI -0.2..2.0, p = 0.11 (McNemar exact, n = 9,917)``."""
        d, lo, hi = (x * scale for x in (self.difference, self.low, self.high))
        return (f"{d:+.{digits}f} {unit}, 95 % CI {lo:+.{digits}f}..{hi:+.{digits}f}, "
                f"p = {_p(self.p_value)} ({self.test}, n = {self.n:,})")


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def paired_accuracy(correct_a: np.ndarray, correct_b: np.ndarray) -> PairedComparison:
    """Accuracy of A minus B over the same examples (per-example correctness, in order).

    The interval is the Wald interval of a paired difference of proportions (Agresti &
    Min's adjusted form: one pseudo-observation added to each discordant cell), the p-value
    McNemar's exact test."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"the two models were scored on {len(a)} and {len(b)} examples; a "
                         "paired comparison needs the same test examples")
    n = len(a)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    diff = (only_a - only_b) / n if n else float("nan")
    # Agresti-Min: add 0.5 to every cell, i.e. 1 to the discordant pair's total and n + 2
    n2, b2, c2 = n + 2, only_a + 0.5, only_b + 0.5
    d2 = (b2 - c2) / n2
    se = math.sqrt(max((b2 + c2) - (b2 - c2) ** 2 / n2, 0.0)) / n2
    return PairedComparison(diff, d2 - Z95 * se, d2 + Z95 * se, mcnemar_exact(only_a, only_b),
                            n, "McNemar exact")


def paired_ppl(nll_a: np.ndarray, nll_b: np.ndarray, tokens: np.ndarray, seed: int = 0,
               resamples: int = RESAMPLES) -> PairedComparison:
    """Perplexity of A minus B over the same examples: a paired bootstrap (the same resampled
    examples for both), its percentile interval and the two-sided bootstrap p-value (twice the
    share of draws on the far side of 0)."""
    a, b = np.asarray(nll_a, np.float64), np.asarray(nll_b, np.float64)
    t = np.asarray(tokens, np.float64)
    if a.shape != b.shape or a.shape != t.shape:
        raise ValueError("a paired perplexity comparison needs both models' NLL on the same "
                         "examples")
    n = len(a)
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    toks = np.maximum(t[idx].sum(1), 1)
    draws = np.exp(a[idx].sum(1) / toks) - np.exp(b[idx].sum(1) / toks)
    low, high = np.percentile(draws, [2.5, 97.5])
    far = (draws <= 0).mean() if _ppl(a, t) > _ppl(b, t) else (draws >= 0).mean()
    return PairedComparison(_ppl(a, t) - _ppl(b, t), float(low), float(high),
                            float(min(1.0, 2 * far)), n, "paired bootstrap")
