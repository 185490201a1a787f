"""Study S3's depth, width and embedding studies: one axis at a time around the recipe.

Layers 1-4, hidden size 32-512 and embedding size 8-256 are each varied with the other two
held at the centre (``CENTER``), over several seeds: a union of three one-axis grids
(``search_spaces.grids``), not their Cartesian product. The centre is in each axis's grid and
runs once per seed, standing on all three curves.
"""

from __future__ import annotations

from search_spaces import compound_scaling
from search_spaces.grids import one_axis_at_a_time

__all__ = ["TITLE", "TASK", "CENTER", "AXES", "GRID", "RECIPE", "PRESETS", "SCHEDULER"]

TASK = "sentiment"  # rnn_core.tasks: what the trials train and the objective

TITLE = "Depth, width and embedding (study S3): one axis at a time around the recipe, IMDB"

# compound scaling's recipe at one layer, hidden 100 (the width of its grid's validation pick
# and of S3's best config), embedding 64: the configuration the optimizer study trains too
CENTER: dict[str, int] = {"num_layers": 1, "hidden_size": 100, "embedding_dim": 64}

AXES: dict[str, list[int]] = {
    "num_layers": [1, 2, 3, 4],
    "hidden_size": [32, 64, 100, 128, 256, 512],
    "embedding_dim": [8, 16, 32, 64, 128, 256],
}

# 4 + 6 + 6 - 2 = 14 configurations (the centre once)
GRID: list[dict] = one_axis_at_a_time(CENTER, AXES)

# compound scaling's recipe: the axes are read around the configuration that study trains
RECIPE: dict[str, object] = dict(compound_scaling.RECIPE)

# every trial to the end: an axis's effect is read at the same epoch for every value
SCHEDULER = "fifo"

# Presets: data size, epochs, and the seeds each configuration runs with (``samples``).
PRESETS: dict[str, dict] = {
    # all of IMDB's training split, 5 epochs, 3 seeds: 42 trials
    "full": {"max_epochs": 5, "samples": 3, "train_subset": None, "val_subset": None,
             "test_subset": None},
    # a training subset, 3 epochs, 2 seeds: 28 trials
    "quick": {"max_epochs": 3, "samples": 2, "train_subset": 4000, "val_subset": 1000,
              "test_subset": 2000},
    # CI / --smoke-test: 4 tiny configurations x 2 seeds on 128 reviews, about 1-2 minutes
    "smoke": {"max_epochs": 1, "samples": 2, "train_subset": 128, "val_subset": 64,
              "test_subset": 64,
              "grid": one_axis_at_a_time({"num_layers": 1, "hidden_size": 16,
                                          "embedding_dim": 16},
                                         {"num_layers": [1, 2], "hidden_size": [8, 16],
                                          "embedding_dim": [8, 16]})},
}
