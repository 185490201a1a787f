"""Study S5, spoken words from feature frames: {RNN_TANH, RNN_RELU, LSTM, GRU, MGU} x {uni, bi}
with hand-written (scratch) cells, 3 layers of 32, Adam lr 0.003.

Plain values only: lists are grid axes, scalars are fixed. ``rnn_core.tuning`` turns lists into
Ray Tune grid searches. ``dataset`` is a one-value axis (``--dataset``): a sweep trains on one
dataset, and the trial config carries its name.
"""

from __future__ import annotations

__all__ = ["TITLE", "REFERENCE", "TASK", "CELLS", "GRID", "RECIPE", "PRESETS", "SCHEDULER"]

TASK = "audio"  # rnn_core.tasks: feature frames -> class, objective val_acc (higher)

TITLE = "Spoken words (study S5): every cell, uni- and bidirectional, on feature frames"
# the published figure the report reads this study against (Japanese Vowels' best published
# recurrent and convolutional results; S5's own GRU ~0.84 was on Speech Commands' three words)
REFERENCE = {"metric": "test_acc", "value": 0.98,
             "source": "recent recurrent and convolutional models on Japanese Vowels (about "
                       "98-99 %; Kudo et al. 1999 94.1 %)"}

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru", "mgu")

# 5 cells x 2 directions = 10 configurations, S5's table (plus MGU).
GRID: dict[str, list] = {
    "cell": list(CELLS),
    "bidirectional": [False, True],
    "dataset": ["digits"],
}

# S5's recipe: hand-written cells (the scratch backend; MGU has no native one), 3 layers of
# 32, Adam lr 0.003, cross entropy; a linear input layer of 32 in the embedding's place.
RECIPE: dict[str, object] = {
    "backend": "scratch",
    "num_layers": 3,
    "hidden_size": 32,
    "input_size": 32,
    "dropout": 0.0,
    "optimizer": "adam",
    "lr": 3e-3,
    "batch_size": 32,
    "grad_clip": 5.0,
    # each clip less its mean frame for spoken words (the synthetic voices and the recorded
    # ones differ by channel and vocal tract, a constant offset per clip in the cepstrum);
    # Japanese Vowels keeps the training split's scale only ("auto", rnn_core.tasks._audio_train)
    "feature_norm": "auto",
}

# Every row of the table runs to the end: the study compares cells at equal budgets, and a
# plain RNN that starts slowly would be stopped at an early rung before its table row exists.
SCHEDULER = "fifo"

# Presets: how much data and how many epochs. ``grid`` replaces GRID axes where given. The
# full preset is sized for 20-30 minutes on a 2-core CPU with the spoken digits (4,080
# training clips of 32 frames; docs/speech.md has the measured times): 100 epochs is five
# times the quick preset's, where the gated cells' validation accuracy has levelled off and
# the plain cells' is still rising; Japanese Vowels (216 short utterances) takes minutes.
PRESETS: dict[str, dict] = {
    "full": {"max_epochs": 100, "train_subset": None, "val_subset": None, "test_subset": None},
    # the same 10 configs, fewer epochs
    "quick": {"max_epochs": 20, "train_subset": None, "val_subset": None, "test_subset": None},
    # CI / --smoke-test: every cell, one direction, 2 epochs on a training subset
    "smoke": {"max_epochs": 2, "train_subset": 96, "val_subset": None, "test_subset": None,
              "num_layers": 1, "hidden_size": 16, "input_size": 16,
              "grid": {"bidirectional": [False]}},
}
