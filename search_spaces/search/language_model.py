"""A language model on your own corpus: cell, depth, width, dropout, optimizer, learning rate and
BPTT length searched together with Optuna's TPE and ASHA.

    python sweeps/search.py --task language_model --data-path corpus/
    python sweeps/search.py --task language_model --data-path book.txt --split 0.8,0.1,0.1 \\
        --tokens char

Study S4's recipe (Zaremba et al.'s small model: SGD, clipped gradients, tied weights) is the
starting point, with Adam beside SGD: on a small corpus or at the character level Adam's
rates are the safer ones, and each optimizer draws from its own range (a rate that suits one
makes the other crawl or diverge). Presets count training tokens, so they hold for words and
characters alike.
"""

from __future__ import annotations

from search_spaces.distributions import Choice, Conditional, IntRange, LogUniform

__all__ = ["TITLE", "TASK", "GRID", "RECIPE", "PRESETS", "SCHEDULER", "SEARCH"]

TASK = "language_model"  # rnn_core.tasks: next-token prediction, objective val_ppl (lower)

TITLE = ("Language model on your corpus (TPE + ASHA): cell, layers, hidden, dropout, "
         "optimizer, learning rate, BPTT")

_LR = {"sgd": LogUniform(0.1, 3.0), "adam": LogUniform(3e-4, 1e-2)}

GRID: dict[str, object] = {
    "cell": ["lstm", "gru"],
    "num_layers": IntRange(1, 2),
    "hidden_size": IntRange(64, 512, log=True),
    "dropout": Choice([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]),  # in steps: readable run names
    "optimizer": ["sgd", "adam"],
    "lr": Conditional("optimizer", _LR),
    "bptt": Choice([35, 70, 100]),
}

# Zaremba et al.'s recipe around the searched axes: tied weights, gradient norm clipped at 5,
# the rate halved every epoch after the second (ASHA's rungs compare trials before that)
RECIPE: dict[str, object] = {
    "backend": "native",
    "tie_weights": True,
    "lr_decay": 0.5,
    "lr_decay_start": 2,
    "grad_clip": 5.0,
    "batch_size": 20,
    "eval_batch_size": 64,
}

SEARCH = "tpe"
SCHEDULER = "asha"  # rungs at epochs 1 and 3 (grace 1, factor 3): a third go on at each

# Presets: tokens per split, epochs and the number of trials (``samples``).
PRESETS: dict[str, dict] = {
    # the whole corpus: 24 trials, up to 6 epochs
    "full": {"max_epochs": 6, "samples": 24, "lr_decay_start": 3,
             "train_tokens": None, "val_tokens": None, "test_tokens": None},
    # the first 200,000 training tokens: 12 trials, up to 3 epochs
    "quick": {"max_epochs": 3, "samples": 12, "train_tokens": 200_000, "val_tokens": 50_000,
              "test_tokens": 50_000},
    # CI / --smoke-test: 2 tiny trials on a few thousand tokens, seconds each
    "smoke": {"max_epochs": 2, "samples": 2, "train_tokens": 4_000, "val_tokens": 1_000,
              "test_tokens": 1_000,
              "grid": {"hidden_size": IntRange(16, 32, log=True), "num_layers": Choice([1]),
                       "bptt": Choice([35])}},
}
