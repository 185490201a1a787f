"""Paired comparisons of two trials on the same test examples, as the findings word them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.compare import compare_outputs, comparison_sentence, pick_comparisons
from rnn_core.tasks import LANGUAGE_MODEL, SENTIMENT


def _correct(n_right: int, n: int, rng) -> np.ndarray:
    out = np.zeros(n, bool)
    out[rng.permutation(n)[:n_right]] = True
    return out


def test_accuracy_pairs_are_compared_with_mcnemar_and_worded_in_points():
    rng = np.random.default_rng(0)
    a = _correct(900, 1000, rng)
    b = a.copy()
    flip = np.flatnonzero(a)[:9]  # B misses 9 that A got right, and gets 2 A missed
    b[flip] = False
    b[np.flatnonzero(~a)[:2]] = True
    cmp = compare_outputs({"correct": a}, {"correct": b})
    assert cmp.difference == pytest.approx(0.007) and cmp.test == "McNemar exact"
    said = comparison_sentence("gru-bi", "lstm-bi", cmp)
    assert said.startswith("gru-bi vs lstm-bi: +0.7 points, 95 % CI ")
    assert "p = 0.07" in said and said.endswith("not distinguishable on this test set")
    with pytest.raises(ValueError, match="different examples"):
        compare_outputs({"correct": a, "label": np.zeros(1000)}, {"correct": b,
                                                                  "label": np.ones(1000)})


def test_perplexity_pairs_need_the_same_sentences():
    rng = np.random.default_rng(1)
    tokens = rng.integers(5, 30, 200)
    nll = tokens * 5.0
    cmp = compare_outputs({"nll": nll - tokens * 0.3, "tokens": tokens},
                          {"nll": nll, "tokens": tokens})
    assert cmp.difference < 0 and cmp.test == "paired bootstrap"
    assert "perplexity" in comparison_sentence("a", "b", cmp)
    with pytest.raises(ValueError, match="different sentences"):
        compare_outputs({"nll": nll, "tokens": tokens}, {"nll": nll, "tokens": tokens + 1})
    with pytest.raises(ValueError, match="cannot pair"):
        compare_outputs({"nll": nll, "tokens": tokens}, {"correct": tokens > 9})


def test_the_pick_is_compared_with_the_runner_up_and_each_other_cells_pick():
    rng = np.random.default_rng(2)
    rows = [("g1", "gru", 0.90, "finished"), ("g2", "gru", 0.88, "finished"),
            ("l1", "lstm", 0.85, "finished"), ("l2", "lstm", 0.87, "finished"),
            ("x", "lstm", 0.99, "failed")]  # failed: never the pick nor a rival
    trials = pd.DataFrame([{"run_id": f"id-{n}", "run_name": n, "cell": c, "best_val_acc": v,
                            "test_acc": 0.8, "n_params": 10, "status": s}
                           for n, c, v, s in rows])
    outputs = {f"id-{n}": {"correct": _correct(k, 500, rng)}
               for n, k in (("g1", 450), ("g2", 440), ("l1", 400), ("l2", 430))}
    said = pick_comparisons(trials, SENTIMENT, outputs.get)
    assert len(said) == 2
    assert said[0].startswith("Paired test comparison with the runner-up on validation: "
                              "g1 vs g2: ")
    assert said[1].startswith("Paired test comparison with the best cell lstm on "
                              "validation: g1 vs l2: +4.0 points")
    assert pick_comparisons(trials, SENTIMENT, lambda run_id: None) == []


def test_a_pick_without_a_test_figure_is_compared_with_nothing():
    trials = pd.DataFrame([{"run_id": "a", "run_name": "a", "best_val_ppl": 100.0,
                            "test_ppl": np.nan, "n_params": 1, "status": "stopped_early"}])
    assert pick_comparisons(trials, LANGUAGE_MODEL, lambda run_id: {"nll": [1.0]}) == []
