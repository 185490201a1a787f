"""Study S4, word-level language modelling: {LSTM, GRU} x dropout {0, 0.5} on the Brown corpus.

Plain values only: lists are grid axes, scalars are fixed. ``rnn_core.tuning`` turns lists into
Ray Tune grid searches. Layers and hidden size are grid axes too (``--layers``, ``--hidden``).

The size is Zaremba et al. 2014's "small" model (2 layers of 200): on two CPU cores the
decoder over a ~13k-word vocabulary is ~80 % of a step's FLOPs, and the study's four rows
take about 1.5-2 hours at that size (docs/language_model.md); their "medium" (650) would
cost ~3x per token.
"""

from __future__ import annotations

__all__ = ["TITLE", "REFERENCE", "TASK", "GRID", "RECIPE", "PRESETS", "SCHEDULER"]

TASK = "language_model"  # rnn_core.tasks: next-word prediction, objective val_ppl (lower)

TITLE = "Word-level language model (study S4): LSTM/GRU x dropout on Brown"
# the published figure the report reads this study against
REFERENCE = {"metric": "test_ppl", "value": 252.0,
             "source": "Bengio et al. 2003's neural model on the same Brown split (best "
                       "smoothed trigram about 312)"}

# 2 cells x 2 dropout rates = 4 configurations, study S4's table.
GRID: dict[str, list] = {
    "cell": ["lstm", "gru"],
    "dropout": [0.0, 0.5],
    "num_layers": [2],
    "hidden_size": [200],
}

# Zaremba et al.'s recipe: SGD lr 1, gradient norm clipped at 5, batch 20; 35 steps of
# truncated BPTT; tied input and output embeddings.
RECIPE: dict[str, object] = {
    "backend": "native",
    "tie_weights": True,
    "optimizer": "sgd",
    "lr": 1.0,
    "lr_decay": 0.5,
    "lr_decay_start": 4,
    "grad_clip": 5.0,
    "batch_size": 20,
    "bptt": 35,
    "eval_batch_size": 64,
}

# Every trial of the default grid runs to the end: S4's table needs each row's test
# perplexity, and ASHA at a grace period of 1 compares models before dropout pays off
# (docs/language_model.md); ``--scheduler asha`` for larger grids.
SCHEDULER = "fifo"

# Presets: how much data and how many epochs. ``grid`` replaces GRID axes where given.
PRESETS: dict[str, dict] = {
    # Bengio et al.'s Brown protocol: 800,000 words train, 200,000 validation, the rest test
    "full": {"max_epochs": 6, "lr_decay_start": 3,
             "train_tokens": None, "val_tokens": None, "test_tokens": None},
    # the same four configs on the first 200,000 training tokens: minutes on 2 CPU cores
    "quick": {"max_epochs": 3, "lr_decay_start": 2, "train_tokens": 200_000,
              "val_tokens": 50_000, "test_tokens": 50_000},
    # CI / --smoke-test: tiny models on a few thousand tokens, about 1-2 minutes
    "smoke": {"max_epochs": 2, "train_tokens": 4_000, "val_tokens": 2_000, "test_tokens": 2_000,
              "grid": {"hidden_size": [16], "num_layers": [1, 2]}},
}
