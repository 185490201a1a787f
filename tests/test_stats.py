"""The intervals and paired tests every test figure carries, against hand-computed values and
scipy/statsmodels-equivalent formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from rnn_core.stats import bootstrap_ppl, mcnemar_exact, paired_accuracy, paired_ppl, wilson


def test_wilson_matches_the_hand_computed_interval():
    # 18 of 20: p = 0.9, z = 1.96; centre (0.9 + 0.096)/1.192 = 0.8356, half 0.1344
    iv = wilson(18, 20)
    assert iv.value == 0.9 and iv.n == 20
    assert iv.low == pytest.approx(0.6990, abs=1e-4)
    assert iv.high == pytest.approx(0.9721, abs=1e-4)


def test_wilson_bounds_at_the_extremes_and_empty():
    assert wilson(0, 10).low == 0.0 and wilson(10, 10).high == 1.0
    assert 0 < wilson(0, 10).high < 0.35 and 0.65 < wilson(10, 10).low < 1
    empty = wilson(0, 0)
    assert empty.n == 0 and (empty.low, empty.high) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(5, 4)


def test_wilson_matches_scipy():
    for k, n in ((0, 7), (3, 7), (8731, 9917), (199, 200)):
        ci = sp.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        iv = wilson(k, n)
        assert iv.low == pytest.approx(ci.low, abs=1e-9)
        assert iv.high == pytest.approx(ci.high, abs=1e-9)


def test_mcnemar_exact_matches_the_binomial_test():
    # b = 2, c = 8: 2 * P(X <= 2), X ~ Bin(10, 1/2) = 2 * 56/1024
    assert mcnemar_exact(2, 8) == pytest.approx(112 / 1024)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(5, 5) == 1.0
    for b, c in ((3, 17), (40, 61), (0, 6)):
        assert mcnemar_exact(b, c) == pytest.approx(sp.binomtest(b, b + c, 0.5).pvalue)


def test_paired_accuracy_counts_only_the_discordant_examples():
    a = np.array([1] * 50 + [1] * 8 + [0] * 2 + [0] * 40, bool)
    b = np.array([1] * 50 + [0] * 8 + [1] * 2 + [0] * 40, bool)
    cmp = paired_accuracy(a, b)
    assert cmp.difference == pytest.approx(0.06) and cmp.n == 100
    assert cmp.p_value == pytest.approx(mcnemar_exact(8, 2))
    assert cmp.low < cmp.difference < cmp.high
    assert "McNemar exact" in cmp.text() and "+6.0 points" in cmp.text()
    with pytest.raises(ValueError, match="same test examples"):
        paired_accuracy(a, b[:10])


def test_bootstrap_ppl_is_seeded_and_brackets_the_figure():
    rng = np.random.default_rng(1)
    tokens = rng.integers(5, 30, 300)
    nll = tokens * rng.normal(4.0, 0.5, 300)
    iv = bootstrap_ppl(nll, tokens, seed=3)
    assert iv.value == pytest.approx(math.exp(nll.sum() / tokens.sum()))
    assert iv.low < iv.value < iv.high and iv.n == 300
    assert bootstrap_ppl(nll, tokens, seed=3) == iv


def test_paired_ppl_tells_a_real_gap_from_noise():
    rng = np.random.default_rng(2)
    tokens = rng.integers(5, 30, 400).astype(float)
    base = tokens * rng.normal(4.0, 0.5, 400)
    better = base - 0.2 * tokens  # 0.2 nats per token lower everywhere
    gap = paired_ppl(better, base, tokens)
    assert gap.difference < 0 and gap.high < 0 and gap.p_value < 0.01
    same = paired_ppl(base + rng.normal(0, 0.01, 400), base, tokens)
    assert same.low < 0 < same.high and same.p_value > 0.05


def test_macro_f1_matches_scikit_learn():
    from sklearn.metrics import f1_score

    from rnn_core.metrics import macro_f1

    rng = np.random.default_rng(0)
    for _ in range(100):
        n, k = int(rng.integers(1, 60)), int(rng.integers(2, 6))
        y, p = rng.integers(0, k, n), rng.integers(0, k, n)
        assert macro_f1(y, p, k) == pytest.approx(f1_score(y, p, average="macro",
                                                           zero_division=0))
    # a model that never predicts the rare class: accuracy 0.9, macro-F1 below 0.5
    y = np.array([0] * 90 + [1] * 10)
    assert macro_f1(y, np.zeros(100, int), 2) == pytest.approx(0.4736842, abs=1e-6)
