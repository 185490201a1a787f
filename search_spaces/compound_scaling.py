"""Study S3, compound scaling: layers x hidden size x embedding size for an LSTM on IMDB.

Plain values only: lists are grid axes, scalars are fixed. ``rnn_core.tuning`` turns lists into
Ray Tune grid searches.
"""

from __future__ import annotations

from search_spaces.coefficients import CompoundCoefficients

__all__ = ["TITLE", "REFERENCE", "TASK", "GRID", "RECIPE", "PRESETS", "COEFFICIENTS"]

TASK = "sentiment"  # rnn_core.tasks: what the trials train and the objective

TITLE = "Compound scaling (study S3): LSTM layers x hidden x embedding on IMDB"
# the published figure the report reads this study against
REFERENCE = {"metric": "test_acc", "value": 0.8806,
             "source": "study S3's best compound-scaling config (2 layers / hidden 100 / "
                       "embedding 32, 1,350,474 parameters)"}

# 3 x 3 x 3 = 27 configurations, the reference study's grid.
GRID: dict[str, list[int]] = {
    "num_layers": [1, 2, 3],
    "hidden_size": [100, 200, 300],
    "embedding_dim": [32, 64, 128],
}

# The fixed recipe every configuration trains with (RMSprop was the study's best optimizer).
RECIPE: dict[str, object] = {
    "cell": "lstm",
    "backend": "native",
    "bidirectional": False,
    "dropout": 0.5,
    "optimizer": "rmsprop",
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 64,
    "grad_clip": 5.0,
}

# Presets: how much data and how many epochs. ``grid`` replaces GRID axes where given.
PRESETS: dict[str, dict] = {
    # all of IMDB's training split, up to 5 epochs (study S3's protocol)
    "full": {"max_epochs": 5, "train_subset": None, "val_subset": None, "test_subset": None},
    # the same 27 configs on a training subset: 5-12 minutes on 2 CPU cores (docs/results.md)
    "quick": {"max_epochs": 3, "train_subset": 4000, "val_subset": 1000, "test_subset": 2000},
    # CI / --smoke-test: 4 small configs on a tiny subset, about 1-2 minutes
    "smoke": {"max_epochs": 2, "train_subset": 256, "val_subset": 128, "test_subset": 128,
              "grid": {"num_layers": [1, 2], "hidden_size": [16, 32], "embedding_dim": [16]}},
}

# ``--method coefficient`` (search_spaces/coefficients.py): EfficientNet's compound coefficients
# from the grid's smallest corner (1 layer, hidden 100, embedding 32). At phi = 1 the candidates
# whose recurrent FLOPs are 2x within a factor 1.3: 10 of them, plus the base, then phi = 2, 3
# with the best: 13 trials. Per preset; the data and epochs are the preset's.
COEFFICIENTS: dict[str, CompoundCoefficients] = {
    "full": CompoundCoefficients({"num_layers": 1, "hidden_size": 100, "embedding_dim": 32},
                                 alphas=(1.0, 2.0), betas=(1.0, 1.2, 1.4, 1.5),
                                 gammas=(1.0, 2.0, 3.0, 4.0)),
    # the smoke test's tiny sizes: 3 candidates (depth, width, embedding alone) + base + 2
    "smoke": CompoundCoefficients({"num_layers": 1, "hidden_size": 16, "embedding_dim": 8},
                                  alphas=(1.0, 2.0), betas=(1.0, 1.4), gammas=(1.0, 3.0)),
}
COEFFICIENTS["quick"] = COEFFICIENTS["full"]
