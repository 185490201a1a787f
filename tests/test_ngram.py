"""The interpolated Kneser-Ney trigram against probabilities worked out by hand on a 10-token
stream, and the language-model task's same-split baseline built from it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnn_core.data.lm_text import TokenCorpus
from rnn_core.ngram import fit_kn_trigram

# ids: 0 <unk>, 1 <eos>, 2 "the", 3 "cat", 4 "sat", 5 "ran"; V = 6, D = 0.75
STREAM = np.array([2, 3, 4, 1, 2, 3, 5, 1, 2, 4])
D, V = 0.75, 6


def _p1(w: int) -> float:
    """Continuation counts N1+(. w): the distinct words before w among the 7 bigram types
    (2 3) (3 4) (4 1) (1 2) (3 5) (5 1) (2 4); 5 words have one, so 5 D / 7 is spread over V."""
    cont = {0: 0, 1: 2, 2: 1, 3: 1, 4: 2, 5: 1}[w]
    return max(cont - D, 0) / 7 + D * 5 / 7 / V


def test_unigram_is_the_discounted_continuation_count_plus_a_uniform_share():
    m = fit_kn_trigram(STREAM, V)
    assert m.unigram == pytest.approx([_p1(w) for w in range(V)], abs=1e-15)
    assert m.unigram.sum() == pytest.approx(1.0, abs=1e-15)


def test_trigram_probabilities_match_the_hand_computed_ones():
    m = fit_kn_trigram(STREAM, V)
    # bigram continuations a(v w) = N1+(. v w) over the 8 trigram types: a(3 4) = 1 (2 _ _),
    # a(3 5) = 1, so a(3 .) = 2 over 2 types
    p2_4_given_3 = (1 - D) / 2 + D * 2 / 2 * _p1(4)
    # c(2 3 .) = 2 over 2 types (2 3 4, 2 3 5), c(2 3 4) = 1
    p3 = (1 - D) / 2 + D * 2 / 2 * p2_4_given_3
    assert m.distribution(2, 3)[4] == pytest.approx(p3, abs=1e-15)
    # an unseen trigram in a seen context: only the context's back-off mass
    assert m.distribution(2, 3)[2] == pytest.approx(D * 2 / 2 * (D * 2 / 2 * _p1(2)), abs=1e-15)
    # a(1 2) = 2 (4 _ _, 5 _ _) over a(1 .) = 2, one type; context (4 1) seen once: 4 1 2
    p2_2_given_1 = (2 - D) / 2 + D * 1 / 2 * _p1(2)
    assert m.distribution(4, 1)[2] == pytest.approx((1 - D) / 1 + D * 1 / 1 * p2_2_given_1,
                                                    abs=1e-15)
    # unseen contexts fall through: (0 0) to P2(. | 0), and 0 never starts a bigram: P1
    assert m.distribution(0, 0) == pytest.approx([_p1(w) for w in range(V)], abs=1e-15)
    # the stream's first target has only a bigram context: P2(3 | 2), a(2 .) = 2 over 2 types
    first = (1 - D) / 2 + D * 2 / 2 * _p1(3)
    lp = m.log_probs(STREAM)
    assert len(lp) == len(STREAM) - 1 and math.exp(lp[0]) == pytest.approx(first, abs=1e-15)
    assert math.exp(lp[2]) == pytest.approx(m.distribution(3, 4)[1], abs=1e-15)
    assert m.perplexity(STREAM) == pytest.approx(math.exp(-lp.mean()))


@pytest.mark.parametrize("context", [(2, 3), (4, 1), (1, 2), (0, 0), (5, 0), (3, 3)])
def test_every_context_sums_to_one_over_the_vocabulary(context):
    d = fit_kn_trigram(STREAM, V).distribution(*context)
    assert d.sum() == pytest.approx(1.0, abs=1e-12) and (d > 0).all()


def test_a_larger_random_stream_still_normalises_and_beats_the_uniform():
    rng = np.random.default_rng(0)
    train = rng.zipf(1.5, 20_000) % 50
    m = fit_kn_trigram(train, 50)
    for u, v in ((int(train[5]), int(train[6])), (49, 48), (1, 1)):
        assert m.distribution(u, v).sum() == pytest.approx(1.0, abs=1e-12)
    assert m.perplexity(rng.zipf(1.5, 2_000) % 50) < 50


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="discount"):
        fit_kn_trigram(STREAM, V, discount=1.0)
    with pytest.raises(ValueError, match="token ids"):
        fit_kn_trigram(STREAM, 4)
    with pytest.raises(ValueError, match="3 tokens"):
        fit_kn_trigram(STREAM[:2], V)


def test_the_task_scores_the_baseline_on_the_trials_prefixes_with_a_sentence_interval():
    from rnn_core.tasks.language_model import data_options, kn_baseline

    itos = ["<unk>", "<eos>", "the", "cat", "sat", "ran"]
    rng = np.random.default_rng(1)
    splits = {k: np.concatenate([STREAM, rng.integers(0, V, n)]).astype(np.int32)
              for k, n in (("train", 400), ("val", 100), ("test", 100))}
    corpus = TokenCorpus(itos, splits)
    got = kn_baseline(corpus, {"train_tokens": 300, "val_tokens": 50, "test_tokens": None}, 0)
    m = fit_kn_trigram(splits["train"][:300], V)
    assert got["kn3_train_tokens"] == 300 and got["kn3_discount"] == D
    assert got["kn3_val_ppl"] == pytest.approx(m.perplexity(splits["val"][:50]), abs=1e-3)
    assert got["kn3_test_ppl"] == pytest.approx(m.perplexity(splits["test"]), abs=1e-3)
    # the sentences are the <eos>-ended runs of the test stream's targets
    ends = np.count_nonzero(splits["test"][1:] == 1)
    assert got["kn3_test_n"] == ends + (splits["test"][-1] != 1)  # the last one cut
    assert got["kn3_test_ppl_ci_low"] < got["kn3_test_ppl"] < got["kn3_test_ppl_ci_high"]
    # the prefixes come from the sweep's fixed config, beside the corpus options
    assert data_options({}, {"train_tokens": 200_000, "val_tokens": None, "min_count": 4,
                             "protocol": "bengio2003", "lr": 1}) == {
        "train_tokens": 200_000, "min_count": 4, "protocol": "bengio2003"}
