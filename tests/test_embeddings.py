"""Pretrained inputs: embedding initialised from a matrix, frozen or not, built once on the
driver (``rnn_core.tasks.text_classification.attach_embeddings``) and reported with their
coverage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnn_core.data.text import EncodedCorpus, Split
from rnn_core.errors import ConfigError
from rnn_core.models import count_parameters
from rnn_core.tasks import train
from rnn_core.tasks._text_train import build_model, resolve_config
from rnn_core.tasks.text_classification import attach_embeddings

WORDS = ["<pad>", "<unk>", "good", "great", "fine", "bad", "awful", "dull", "plot", "zzzq"]
CFG = {"hidden_size": 8, "embedding_dim": 4, "num_layers": 1, "max_epochs": 2,
       "batch_size": 16, "optimizer": "adam", "lr": 1e-2, "dropout": 0.0}


def _split(n: int, seed: int) -> Split:
    """Reviews of 3-7 words: label 1 when a positive word (ids 2-4) comes first."""
    rng = np.random.default_rng(seed)
    docs, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        first = rng.integers(2, 5) if label else rng.integers(5, 8)
        docs.append([first, *rng.integers(1, len(WORDS), size=rng.integers(2, 7))])
        labels.append(label)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(d) for d in docs], out=offsets[1:])
    return Split(np.concatenate(docs).astype(np.int32), offsets, np.asarray(labels))


@pytest.fixture
def corpus() -> EncodedCorpus:
    return EncodedCorpus(list(WORDS), {"train": _split(96, 0), "val": _split(32, 1),
                                       "test": _split(32, 2)},
                         {"source": "synthetic", "options": {}})


@pytest.fixture
def vectors_file(tmp_path):
    """A word2vec text file covering 7 of the 8 words (not 'zzzq'), 3 dims."""
    rng = np.random.default_rng(0)
    lines = [f"{w} " + " ".join(f"{v:.4f}" for v in rng.normal(size=3)) for w in WORDS[2:9]]
    path = tmp_path / "tiny.vec"
    path.write_text(f"{len(lines)} 3\n" + "\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("freeze", [True, False])
def test_embedding_initialised_from_matrix(freeze):
    weights = np.random.default_rng(1).normal(size=(len(WORDS), 5)).astype(np.float32)
    weights[0] = 0
    cfg = {**CFG, "embedding_dim": 5, "cell": "gru", "backend": "native",
           "bidirectional": False, "freeze_embedding": freeze}
    model = build_model(cfg, len(WORDS), 0, weights)
    assert torch.equal(model.embedding.weight.detach(), torch.from_numpy(weights))
    assert model.embedding.weight.requires_grad is (not freeze)
    total, trainable = count_parameters(model), count_parameters(model, trainable_only=True)
    assert total - trainable == (weights.size if freeze else 0)
    loss = model(torch.tensor([[2, 3, 4]]), torch.tensor([3])).sum()
    loss.backward()
    assert (model.embedding.weight.grad is None) is freeze


def test_wrong_shape_is_refused():
    cfg = {**CFG, "cell": "lstm", "backend": "native", "bidirectional": False}
    with pytest.raises(ValueError, match="do not match"):
        build_model(cfg, len(WORDS), 0, np.zeros((len(WORDS), 7), dtype=np.float32))


def test_resolve_config_variant_and_pretrained(corpus):
    corpus.embeddings["glove50"] = np.zeros((len(WORDS), 50), dtype=np.float32)
    corpus.embedding_coverage["glove50"] = {"vocab_coverage": 0.5, "token_coverage": None}
    cfg, weights, cov = resolve_config({"variant": "mgu/scratch", "embedding": "glove50",
                                        "freeze_embedding": True, "embedding_dim": 8}, corpus)
    assert (cfg["cell"], cfg["backend"], cfg["embedding_dim"]) == ("mgu", "scratch", 50)
    assert weights is corpus.embeddings["glove50"] and cov == {"vocab_coverage": 0.5}
    cfg, weights, cov = resolve_config({"embedding": "learned", "freeze_embedding": True},
                                       corpus)
    assert weights is None and cov == {} and cfg["freeze_embedding"] is False
    with pytest.raises(ConfigError, match="was not built on the driver"):
        resolve_config({"embedding": "word2vec300"}, corpus)
    with pytest.raises(ConfigError, match="is not 'cell/backend'"):
        resolve_config({"variant": "lstm"}, corpus)


def test_attach_vectors_file_and_train_frozen(corpus, vectors_file):
    name = str(vectors_file)
    attach_embeddings(corpus, [name], None, 0)
    weights, cov = corpus.embeddings[name], corpus.embedding_coverage[name]
    assert weights.shape == (len(WORDS), 3) and not weights[0].any()
    assert cov["vocab_coverage"] == pytest.approx(7 / 8)  # 'zzzq' has no vector
    assert 0 < cov["token_coverage"] < 1  # <unk> and 'zzzq' tokens are uncovered
    states = []
    final = train({**CFG, "variant": "gru/scratch", "embedding": name,
                   "freeze_embedding": True}, corpus, report=lambda m, s: states.append(s))
    assert final["vocab_coverage"] == pytest.approx(7 / 8)
    assert final["token_coverage"] == pytest.approx(cov["token_coverage"])
    assert final["n_params"] - final["n_trainable_params"] == weights.size
    emb = states[-1]["model"]["embedding.weight"]
    assert torch.allclose(emb, torch.from_numpy(weights))  # frozen: unchanged by training
    assert states[-1]["config"]["embedding_dim"] == 3
    assert states[-1]["model_config"]["cell"] == "gru"
    learned = train({**CFG, "max_epochs": 1}, corpus)
    assert learned["n_params"] == learned["n_trainable_params"]
    assert "vocab_coverage" not in learned


def test_word2vec_trains_on_the_training_split_once(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_SWEEPS_DATA", str(tmp_path))
    seen = []
    from rnn_core.data import vectors

    real = vectors.train_word2vec

    def spy(sentences, **kw):
        seen.append(([list(s) for s in sentences], kw["cache_key"]))
        return real(sentences, **{**kw, "vector_size": 300})

    monkeypatch.setattr(vectors, "train_word2vec", spy)
    attach_embeddings(corpus, ["word2vec300"], 64, 0)
    assert corpus.embeddings["word2vec300"].shape == (len(WORDS), 300)
    (sentences, key), = seen
    train = corpus.splits["train"].subset(64, 0)
    assert len(sentences) == 64 and sum(map(len, sentences)) == int(
        (np.asarray(train.tokens) > 1).sum())  # the training subset, <unk>/<pad> dropped
    assert all(w not in ("<pad>", "<unk>") for s in sentences for w in s)
    assert key.startswith("imdb-train-") and key.endswith("-n64-seed0")
    assert any((tmp_path / "vectors").iterdir())  # cached
