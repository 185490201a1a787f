"""Audio sequence classification: feature frames (MFCCs, LPC cepstra) -> class; study S5.

Driver side only (no torch): the task's declaration and preparing its data once. The data is
one of the named datasets (``DATASETS``) or a folder in Speech Commands v0.02's layout; the
trainer is ``rnn_core.tasks._audio_train.AudioTrainer``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from rnn_core.data.speech_commands import WORD_SETS
from rnn_core.errors import ConfigError
from rnn_core.tasks._base import Task
from rnn_core.tasks._registry import register

__all__ = ["DATASETS", "DEFAULT_DATASET", "TASK", "data_options", "metric_key", "prepare"]

log = logging.getLogger(__name__)

# name -> what it is (the study's --dataset help); anything else is a Speech Commands folder
DATASETS = {
    "digits": "spoken zero..nine, synthetic speakers (built on first use) + 2 human voices",
    "three_words": "S5's words one, two, three of the digits set",
    "japanese_vowels": "UCI Japanese Vowels, 9 speakers, 12 LPC cepstra per frame (aeon wheel)",
}
DEFAULT_DATASET = "digits"


def metric_key(name: str) -> str:
    """A class name as a metric-name part (MLflow takes letters, digits, ``_ - . /``)."""
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in name)


def data_options(grid: dict, base: dict) -> dict:
    """The one dataset a study names (its ``dataset`` axis or fixed value)."""
    values = grid.get("dataset", base.get("dataset", DEFAULT_DATASET))
    values = values if isinstance(values, list) else [values]
    if len(values) != 1:
        raise ConfigError(f"dataset {values}: a sweep trains on one dataset")
    return {"dataset": str(values[0])}


def resolve_dataset(data_path: str | None, dataset: str
                    ) -> tuple[str | None, tuple[str, ...] | None]:
    """(the Speech Commands folder to read, its words) for a dataset name or folder and
    ``--data-path``: a word set (digits, three_words) reads those words from ``--data-path``
    where given, else from the built digits set (folder None); a folder reads every word
    folder. ConfigError when the two name different data.

    japanese_vowels is no folder: (None, None).
    """
    if dataset == "japanese_vowels":
        if data_path is not None:
            raise ConfigError(f"--data-path {data_path}: japanese_vowels is read from the aeon "
                              "wheel, not a folder; give --dataset PATH for a Speech Commands "
                              "folder")
        return None, None
    if dataset in WORD_SETS:
        return data_path, WORD_SETS[dataset]
    if data_path is not None and Path(dataset).resolve() != Path(data_path).resolve():
        raise ConfigError(f"--data-path {data_path} and --dataset {dataset} name two datasets; "
                          "give one")
    return dataset, None


def prepare(data_path: str | None, seed: int, options: dict):
    """The dataset's splits (feature frames standardized by the training split), and what the
    parent run logs about it.

    Returns:
        (FeatureSet, info)
    """
    dataset = str(options.get("dataset", DEFAULT_DATASET))
    folder, words = resolve_dataset(data_path, dataset)
    t0 = time.perf_counter()
    if dataset == "japanese_vowels":
        from rnn_core.data.japanese_vowels import load_japanese_vowels

        data = load_japanese_vowels(seed)
    else:
        from rnn_core.data.speech_commands import load_speech_commands

        source = None
        if folder is None:
            from rnn_core.data.spoken_digits import BUILD, digits_root

            folder, source = digits_root(), f"{dataset}:{BUILD}"
        data = load_speech_commands(folder, words, source)
    data = data.standardized()
    counts = {name: len(s) for name, s in data.splits.items()}
    log.info("data: %s, %d classes, %d features, sequences %s (%.1f s)", dataset,
             len(data.classes), data.num_features, counts, time.perf_counter() - t0)
    return data, {"data_source": data.stats["source"], "num_classes": len(data.classes),
                  "num_features": data.num_features, "sequences": counts,
                  **{k: v for k, v in data.stats.items() if k != "source"}}


TASK = register(Task(
    name="audio",
    objective="val_acc",
    mode="max",
    trainer="rnn_core.tasks._audio_train:AudioTrainer",
    prepare=prepare,
    data_options=data_options,
    name_keys=(("cell", ""), ("num_layers", "L"), ("hidden_size", "H")),
    table_params=("cell", "bidirectional", "num_layers", "hidden_size"),
    table_train=True,
    data_help="a Speech Commands v0.02 folder (word folders of 1 s 16 kHz wav clips, "
              "validation_list.txt, testing_list.txt); --dataset digits or three_words picks "
              "those words from it",
    subset=("train_subset", "sequences"),
    reference="study S5 (Speech Commands one/two/three, MFCC, 3 x 32 hand-written cells): "
              "GRU ~84 %, RNN_RELU ~59 %, RNN_TANH ~47 %; Japanese Vowels: Kudo et al. 1999 "
              "94.1 %, recent recurrent and convolutional models about 98-99 %",
), __name__)
