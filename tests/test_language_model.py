"""The language-model task: fused loss, perplexity, truncated BPTT's carried state, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from rnn_core.data.lm_text import TokenCorpus
from rnn_core.language_model import (
    IGNORE,
    LanguageModel,
    LMConfig,
    linear_cross_entropy,
    segments,
    windows,
)
from rnn_core.tasks import train
from rnn_core.tasks._lm_train import evaluate, per_sentence, score

V = 12


def _corpus(seed: int = 0) -> TokenCorpus:
    """A tiny corpus with structure a model can learn: token t+1 follows t (mod V, ids >= 2)."""
    rng = np.random.default_rng(seed)

    def stream(n: int) -> np.ndarray:
        start = rng.integers(2, V, size=n // 6 + 1)
        return np.concatenate([2 + (s - 2 + np.arange(6)) % (V - 2) for s in start])[:n]

    itos = ["<unk>", "<eos>", *[f"w{i}" for i in range(V - 2)]]
    return TokenCorpus(itos, {"train": stream(3000).astype(np.int32),
                              "val": stream(600).astype(np.int32),
                              "test": stream(600).astype(np.int32)},
                       {"source": "synthetic"})


def test_fused_loss_equals_torch_cross_entropy_and_its_gradients():
    torch.manual_seed(0)
    h = torch.randn(9, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(7, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0, 6, 3, IGNORE, 2, 2, IGNORE, 1, 5])
    ours, n = linear_cross_entropy(h, w, b, t)
    ref = nn.functional.cross_entropy(nn.functional.linear(h, w, b), t, reduction="sum",
                                      ignore_index=IGNORE)
    assert n == 7 and torch.allclose(ours, ref, rtol=1e-12)
    g_ours = torch.autograd.grad(ours * 0.7, (h, w, b))
    g_ref = torch.autograd.grad(ref * 0.7, (h, w, b))
    for a, r in zip(g_ours, g_ref, strict=True):
        assert torch.allclose(a, r, rtol=1e-10, atol=1e-12)
    # backward reuses the saved softmax in place: a second backward through the same graph
    # is refused by autograd's version check, never silently wrong
    again, _ = linear_cross_entropy(h, w, b, t)
    again.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        again.backward()


def test_perplexity_is_exp_of_the_mean_token_nll_hand_computed():
    """An untied model whose decoder ignores its input predicts a fixed unigram distribution p:
    perplexity = exp(mean over targets of -log p[target]), computed here by hand."""
    model = LanguageModel(LMConfig(vocab_size=4, hidden_size=3, num_layers=1, tie_weights=False))
    p = np.array([0.1, 0.2, 0.3, 0.4])
    with torch.no_grad():
        model.decoder.weight.zero_()
        model.decoder.bias.copy_(torch.from_numpy(np.log(p)))
    stream = np.array([3, 1, 2, 2, 0, 3, 3, 1, 2], dtype=np.int32)
    targets = stream[1:]  # every token after the first is scored once
    hand = math.exp(np.mean([-math.log(p[t]) for t in targets]))
    for rows, bptt in ((1, 100), (3, 2), (8, 1)):
        loss, ppl = evaluate(model, stream, rows, bptt, torch.device("cpu"))
        assert ppl == pytest.approx(hand, rel=1e-6)
        assert loss == pytest.approx(math.log(hand), rel=1e-6)
    # uniform predictions: perplexity equals the vocabulary size
    with torch.no_grad():
        model.decoder.bias.zero_()
    assert evaluate(model, stream, 2, 3, torch.device("cpu"))[1] == pytest.approx(4.0)


@pytest.mark.parametrize("rows", [1, 3, 4, 7])
def test_segments_score_every_target_once(rows):
    stream = np.arange(2, 25, dtype=np.int32)
    inputs, targets = segments(stream, rows)
    scored = targets != IGNORE
    assert int(scored.sum()) == len(stream) - 1
    # row-major order of the scored targets is the stream after its first token
    assert targets[scored].tolist() == stream[1:].tolist()
    assert (inputs[scored] + 1).tolist() == targets[scored].tolist()  # input = previous token
    got = [y for _, y in windows(inputs, targets, 2)]
    assert torch.equal(torch.cat(got, 1), targets)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "mgu"])
def test_evaluation_carries_the_state_across_windows(cell):
    """Windows of 3 steps with the state carried equal one pass over whole segments."""
    torch.manual_seed(0)
    backend = "scratch" if cell == "mgu" else "native"
    model = LanguageModel(LMConfig(vocab_size=V, hidden_size=6, num_layers=2, cell=cell,
                                   backend=backend)).double()
    stream = _corpus().splits["val"][:200]
    windowed = evaluate(model, stream, 4, 3, torch.device("cpu"))
    whole = evaluate(model, stream, 4, 10_000, torch.device("cpu"))
    assert windowed[0] == pytest.approx(whole[0], rel=1e-10)
    # a state that was not carried would differ: restart it at every window
    inputs, targets = segments(stream, 4)
    with torch.no_grad():
        total = sum(float(model.nll(model(x)[0], y)[0]) for x, y in windows(inputs, targets, 3))
    assert total / (len(stream) - 1) != pytest.approx(whole[0], rel=1e-6)


class _Spy(LanguageModel):
    """Records the initial state each training window gets."""

    def forward(self, tokens, state=None):
        self.seen.append(state)
        return super().forward(tokens, state)


def test_training_carries_a_detached_state_and_resets_it_per_split():
    corpus = _corpus()
    cfg = {"task": "language_model", "hidden_size": 8, "num_layers": 1, "bptt": 5,
           "batch_size": 4, "eval_batch_size": 4, "max_epochs": 2, "lr_decay": 1.0}
    from rnn_core.tasks import task_of
    from rnn_core.training import resolve

    tc, trainer = resolve(task_of(cfg), cfg, corpus)
    trainer.setup(torch.device("cpu"))
    model = _Spy(trainer.model_config())
    model.seen = []
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    for epoch in (1, 2):
        model.seen.clear()
        trainer.train_epoch(model, opt, np.random.default_rng(0), epoch)
        n_windows = math.ceil(math.ceil((3000 - 1) / 4) / 5)
        assert len(model.seen) == n_windows
        assert model.seen[0] is None  # a split starts from the zero state
        for st in model.seen[1:]:
            h, c = st
            assert h.shape == (1, 4, 8) and not h.requires_grad and h.grad_fn is None
    model.seen.clear()
    trainer.evaluate(model, "val")
    # evaluation: the fixed 64 streams, 4 at a time, each group from the zero state once
    assert model.seen[0] is None
    assert sum(s is None for s in model.seen) == 64 // 4


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_language_model_learns_and_reports_perplexity(dropout):
    corpus = _corpus()
    reports = []
    final = train({"task": "language_model", "hidden_size": 16, "num_layers": 1,
                   "dropout": dropout, "max_epochs": 3, "bptt": 10, "batch_size": 8,
                   "optimizer": "adam", "lr": 1e-2, "lr_decay": 1.0},
                  corpus, report=lambda m, st: reports.append((m, st)))
    ppl = [m["val_ppl"] for m, _ in reports]
    assert ppl[-1] < ppl[0] < V  # learns the successor rule, better than uniform
    assert final["best_val_ppl"] == min(ppl)
    assert "test_ppl" in final and final["test_ppl"] == pytest.approx(
        math.exp(final["test_loss"]))
    assert final["train_ppl"] == pytest.approx(math.exp(final["train_loss"]))
    assert [st["improved"] for _, st in reports] == [
        p == min(ppl[:i + 1]) and (i == 0 or p < min(ppl[:i])) for i, p in enumerate(ppl)]


def test_tied_weights_share_the_embedding_and_count_once():
    tied = LanguageModel(LMConfig(vocab_size=50, hidden_size=8, num_layers=1))
    untied = LanguageModel(LMConfig(vocab_size=50, hidden_size=8, num_layers=1,
                                    tie_weights=False))
    assert tied.decoder.weight is tied.embedding.weight
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(untied) - n(tied) == 50 * 8


def test_learning_rate_decays_after_the_start_epoch():
    corpus = _corpus()
    seen = []
    train({"task": "language_model", "hidden_size": 8, "num_layers": 1, "max_epochs": 4,
           "lr": 1.0, "lr_decay": 0.5, "lr_decay_start": 2, "train_tokens": 500},
          corpus, report=lambda m, st: seen.append(m["lr"]))
    assert seen == [1.0, 1.0, 0.5, 0.25]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_perplexity_is_the_same_for_any_eval_batch(cell):
    """The split is scored as the same 64 streams whatever the batch: 1, 10 or 64 at a time
    give one figure (to rounding), where cutting by the batch moved it."""
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(vocab_size=V, hidden_size=8, num_layers=2, cell=cell))
    stream = _corpus().splits["val"]
    figures = [evaluate(model, stream, rows, 5, torch.device("cpu"))[1] for rows in (1, 10, 64)]
    assert max(figures) / min(figures) - 1 < 1e-6
    by_batch = [evaluate(model, stream, rows, 5, torch.device("cpu"), streams=rows)[1]
                for rows in (1, 64)]
    assert by_batch[0] != pytest.approx(by_batch[1], rel=1e-6)  # what the batch used to change


def test_each_sentence_sums_its_own_targets():
    # stream: a b <eos> c <eos> d  (ids: <eos> = 1); targets are the stream after its first
    stream = np.array([2, 3, 1, 4, 1, 5])
    token_nll = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # for targets 3, 1, 4, 1, 5
    nll, tokens = per_sentence(token_nll, stream, eos=1)
    assert nll.tolist() == [3.0, 7.0, 5.0] and tokens.tolist() == [2, 2, 1]


def test_the_test_pass_keeps_sentences_and_an_interval():
    torch.manual_seed(0)
    corpus = _corpus()
    corpus.splits["test"][::7] = 1  # sentences of about 7 tokens
    states = []
    final = train({"task": "language_model", "hidden_size": 8, "num_layers": 1,
                   "max_epochs": 1, "bptt": 10, "batch_size": 8, "lr_decay": 1.0},
                  corpus, report=lambda m, st: states.append(st))
    out = states[-1]["test_outputs"]
    assert out["tokens"].sum() == len(corpus.splits["test"]) - 1  # every target, once
    assert len(out["nll"]) == final["test_n"]
    assert math.exp(out["nll"].sum() / out["tokens"].sum()) == pytest.approx(
        final["test_ppl"], rel=1e-4)
    assert final["test_ppl_ci_low"] < final["test_ppl"] < final["test_ppl_ci_high"]
    model = LanguageModel(LMConfig(vocab_size=V, hidden_size=8, num_layers=1))
    total, count, each = score(model, corpus.splits["test"], 8, 10, torch.device("cpu"),
                               per_token=True)
    assert count == len(each) and each.sum() == pytest.approx(total, rel=1e-5)


def test_a_stream_without_eos_resamples_the_sentences_its_corpus_keeps():
    torch.manual_seed(0)
    corpus = _corpus()  # --protocol bengio2003's layout: no <eos>, a sentence every 7 tokens
    corpus.sentence_ends = {k: np.arange(7, len(v) + 1, 7) for k, v in corpus.splits.items()}
    states = []
    final = train({"task": "language_model", "hidden_size": 8, "num_layers": 1,
                   "max_epochs": 1, "bptt": 10, "batch_size": 8, "lr_decay": 1.0},
                  corpus, report=lambda m, st: states.append(st))
    out = states[-1]["test_outputs"]
    # 600 tokens, 599 targets: the first sentence's first token is no target, the last is cut
    assert out["tokens"].tolist() == [6] + [7] * 84 + [5] and final["test_n"] == 86
    assert final["test_ppl_ci_low"] < final["test_ppl"] < final["test_ppl_ci_high"]
