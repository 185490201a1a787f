"""Load a model a sweep logged to MLflow and predict on raw input (the pyfunc's loader module).

An MLflow ``python_function`` model whose ``loader_module`` is this module: MLflow calls
``_load_pyfunc(<model>/data)`` and then ``predict``. The folder holds the trial's
``best.pt`` (state_dict and config, loaded with ``weights_only=True``) and ``bundle.json``
(the task, its vocabulary and preprocessing); the task's predictor
(``rnn_core.tasks.Task.serving``) turns raw values into rows. Nothing here imports Ray or MLflow
or reads the data cache. ``rnn_core.tuning`` writes these models.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rnn_core.tasks import task_of

__all__ = ["BUNDLE", "CHECKPOINT", "FORMAT", "RawInputModel"]

BUNDLE, CHECKPOINT = "bundle.json", "best.pt"
FORMAT = 1  # of bundle.json; bump when a predictor reads it differently


class RawInputModel:
    """A trained model that takes raw input as users have it (a review's text, ...)."""

    def __init__(self, bundle: dict, checkpoint: dict) -> None:
        if bundle.get("format") != FORMAT:
            raise ValueError(
                f"{BUNDLE} has format {bundle.get('format')!r}; this code reads format {FORMAT}"
            )
        serving = task_of(bundle).serving
        if serving is None:
            raise ValueError(f"task {bundle['task']!r} has no raw-input model")
        self.input = serving.input
        self.columns = [name for name, _ in serving.outputs]
        self.predictor = serving.load_predictor()(bundle, checkpoint)

    @classmethod
    def load(cls, folder: str | Path) -> RawInputModel:
        from rnn_core.checkpoints import load_checkpoint  # torch: not where models are written

        folder = Path(folder)
        bundle = json.loads((folder / BUNDLE).read_text(encoding="utf-8"))
        return cls(bundle, load_checkpoint(folder / CHECKPOINT))

    def predict(self, model_input, params: dict | None = None) -> pd.DataFrame:
        """One output row per input row; ``model_input`` a frame with the input column (or
        a single column), a series, a list of values or one value."""
        values = [
            None if pd.api.types.is_scalar(v) and pd.isna(v) else v
            for v in self._values(model_input)
        ]
        return pd.DataFrame(self.predictor.predict(values), columns=self.columns)

    def _values(self, model_input) -> list:
        if isinstance(model_input, pd.DataFrame):
            if self.input in model_input.columns:
                return model_input[self.input].tolist()
            if model_input.shape[1] == 1:
                return model_input.iloc[:, 0].tolist()
            raise ValueError(
                f"expected a column {self.input!r}; the input has columns "
                f"{list(model_input.columns)}"
            )
        if isinstance(model_input, dict) and self.input in model_input:
            model_input = model_input[self.input]
        if isinstance(model_input, (pd.Series, list, tuple)):
            return list(model_input)
        if hasattr(model_input, "tolist"):  # a numpy array
            return list(model_input.tolist())
        return [model_input]


def _load_pyfunc(data_path: str) -> RawInputModel:
    """MLflow's entry point for a ``loader_module`` model."""
    return RawInputModel.load(data_path)
