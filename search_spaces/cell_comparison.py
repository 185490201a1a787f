"""Studies S1/S2 widened: every recurrent cell x backend x direction x input vectors on IMDB.

Plain values only: lists are grid axes, scalars are fixed. ``rnn_core.tuning`` turns lists into
Ray Tune grid searches.

Cell and backend share one axis, ``variant`` (``"cell/backend"``), because a cross product of
two axes would ask for ``mgu/native``, which does not exist (torch has no MGU). The trainable
splits it (``rnn_core.training.resolve_config``). Inputs are the ``embedding`` axis:
``learned`` (trained from scratch, ``embedding_dim`` below) or pretrained vectors, frozen
(``freeze_embedding``), whose matrices the sweep script builds once on the driver.
"""

from __future__ import annotations

__all__ = ["TITLE", "REFERENCE", "TASK", "CELLS", "GRID", "RECIPE", "PRESETS", "VARIANTS"]

TASK = "sentiment"  # rnn_core.tasks: what the trials train and the objective

TITLE = "Cell comparison (studies S1, S2): every cell x backend x direction x inputs on IMDB"
# the published figure the report reads this study against
REFERENCE = {"metric": "test_acc", "value": 0.853,
             "source": "study S2's bidirectional GRU on Amazon reviews with word2vec inputs "
                       "(S1 GRU 0.8017, minimal gated unit 0.7995; other data)"}

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru", "mgu")
# every cell from scratch, and the native torch layer where one exists (not MGU): 9 variants
VARIANTS: list[str] = [f"{cell}/{backend}" for cell in CELLS for backend in ("scratch", "native")
                       if not (cell == "mgu" and backend == "native")]

# 9 variants x 2 directions x 3 inputs = 54 configurations.
GRID: dict[str, list] = {
    "variant": VARIANTS,
    "bidirectional": [False, True],
    "embedding": ["learned", "glove50", "word2vec300"],
}

# The fixed recipe (study S3's, which S1/S2 also trained with RMSprop/Adam-like settings).
RECIPE: dict[str, object] = {
    "num_layers": 1,
    "hidden_size": 64,
    "embedding_dim": 64,  # learned inputs only; pretrained ones take the vectors' size
    "freeze_embedding": True,  # pretrained inputs stay fixed (S1/S2 fed fixed word2vec vectors)
    "dropout": 0.5,
    "optimizer": "rmsprop",
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 64,
    "grad_clip": 5.0,
}

# Presets: how much data and how many epochs. ``grid`` replaces GRID axes where given.
PRESETS: dict[str, dict] = {
    # all of IMDB's training split, up to 4 epochs
    "full": {"max_epochs": 4, "train_subset": None, "val_subset": None, "test_subset": None},
    # the same 54 configs on a training subset, up to 3 epochs: minutes on 2 CPU cores
    "quick": {"max_epochs": 3, "train_subset": 5000, "val_subset": 1000, "test_subset": 2000},
    # CI / --smoke-test: each cell once (scratch MGU, native for the rest), one direction,
    # learned and GloVe inputs, 128 training reviews: 10 trials, under 2 minutes
    "smoke": {"max_epochs": 1, "train_subset": 128, "val_subset": 64, "test_subset": 64,
              "hidden_size": 16, "embedding_dim": 16,
              "grid": {"variant": ["rnn_tanh/native", "rnn_relu/native", "lstm/native",
                                   "gru/native", "mgu/scratch"],
                       "bidirectional": [False], "embedding": ["learned", "glove50"]}},
}
