"""The audio task: frame classifier over every cell, batching, metrics, splits, training."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from rnn_core.cells import CELLS
from rnn_core.data.batching import padded_frames
from rnn_core.data.features import FeatureSet, from_sequences, stratified_holdout
from rnn_core.errors import ConfigError
from rnn_core.models import FrameClassifier, FrameConfig, count_parameters
from rnn_core.tasks import train
from rnn_core.tasks._audio_train import AudioTrainer, split_metrics
from rnn_core.tasks.audio import data_options, resolve_dataset
from tests._sweeps import ROOT

VARIANTS = [(c, b) for c in CELLS for b in ("scratch", "native")
            if not (c == "mgu" and b == "native")]


@pytest.mark.parametrize("cell, backend", VARIANTS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_cell_classifies_padded_frames_as_each_sequence_alone(cell, backend,
                                                                    bidirectional):
    torch.manual_seed(0)
    model = FrameClassifier(FrameConfig(num_features=5, num_classes=7, input_size=6,
                                        hidden_size=4, num_layers=2, cell=cell,
                                        bidirectional=bidirectional, backend=backend)
                            ).double().eval()
    lengths = torch.tensor([6, 2, 4])
    frames = torch.randn(3, 6, 5, dtype=torch.float64)
    for i, n in enumerate(lengths):
        frames[i, n:] = 1e3  # padding must not reach the logits
    logits = model(frames, lengths)
    assert logits.shape == (3, 7)
    for i, n in enumerate(lengths):
        alone = model(frames[i:i + 1, :n], lengths[i:i + 1])
        torch.testing.assert_close(logits[i:i + 1], alone, rtol=1e-10, atol=1e-10)


def test_mgu_has_no_native_backend():
    with pytest.raises(ConfigError, match="no native torch implementation"):
        FrameClassifier(FrameConfig(num_features=3, num_classes=2, cell="mgu", backend="native"))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_parameter_count_closed_form(bidirectional):
    """Linear F->I, 3 GRU layers 3H(in+H+2) per direction, head D*H*C + C."""
    f, i, h, c, d = 12, 32, 32, 9, 2 if bidirectional else 1
    model = FrameClassifier(FrameConfig(f, c, i, h, 3, "gru", bidirectional))
    gru = d * 3 * h * (i + h + 2) + 2 * d * 3 * h * (d * h + h + 2)
    assert count_parameters(model) == f * i + i + gru + d * h * c + c


def test_padded_frames_and_split_take():
    seqs = [np.full((n, 2), v, np.float32) for n, v in ((3, 1.0), (1, 2.0), (2, 3.0))]
    split = from_sequences(seqs, [0, 1, 0], ["a", "b", "a"], 2)
    frames, lengths, labels = padded_frames(split, np.array([2, 0]))
    assert frames.shape == (2, 3, 2) and lengths.tolist() == [2, 3] and labels.tolist() == [0, 0]
    assert frames[0, :2].eq(3.0).all() and frames[0, 2].eq(0).all() and frames[1].eq(1.0).all()
    taken = split.take(np.array([1, 2]))
    assert taken.lengths.tolist() == [1, 2] and taken.speakers.tolist() == ["b", "a"]
    np.testing.assert_array_equal(taken.sequence(1), seqs[2])


def test_per_class_recall_and_confusion_by_hand():
    true = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 1, 0, 1, 0, 2])
    m = split_metrics(3.0, pred, true, ["one", "two", "a b", "unseen"], recall=True)
    assert m["acc"] == pytest.approx(4 / 6) and m["loss"] == pytest.approx(0.5) and m["n"] == 6
    assert m["recall_one"] == pytest.approx(2 / 3) and m["recall_two"] == pytest.approx(0.5)
    assert m["recall_a_b"] == 1.0 and "recall_unseen" not in m  # no clip: no recall
    assert not any(k.startswith("confusion_") for k in m)
    m = split_metrics(3.0, pred, true, ["one", "two", "a b", "unseen"], recall=True,
                      confusion=True)
    assert {k: v for k, v in m.items() if k.startswith("confusion_")} == {
        "confusion_one__one": 2, "confusion_one__two": 1, "confusion_two__two": 1,
        "confusion_two__one": 1, "confusion_a_b__a_b": 1}  # zero counts are not logged


def test_stratified_holdout_keeps_each_group_in_proportion():
    groups = np.repeat(np.array(["s1", "s2", "s3"]), [30, 10, 1])
    keep, held = stratified_holdout(groups, 0.2, seed=3)
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(41))
    assert {g: int((groups[held] == g).sum()) for g in ("s1", "s2", "s3")} == \
        {"s1": 6, "s2": 2, "s3": 0}
    again = stratified_holdout(groups, 0.2, seed=3)[1]
    other = stratified_holdout(groups, 0.2, seed=4)[1]
    assert np.array_equal(held, again) and not np.array_equal(held, other)


def test_one_dataset_per_sweep_and_path_agreement(tmp_path):
    assert data_options({"dataset": ["japanese_vowels"]}, {}) == {"dataset": "japanese_vowels"}
    assert data_options({}, {}) == {"dataset": "digits"}
    with pytest.raises(ConfigError, match="one dataset"):
        data_options({"dataset": ["japanese_vowels", "x"]}, {})
    digits = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    assert resolve_dataset(None, "digits") == (None, digits)  # the built set
    assert resolve_dataset(str(tmp_path), "three_words") == (str(tmp_path),
                                                             ("one", "two", "three"))
    assert resolve_dataset(None, str(tmp_path)) == (str(tmp_path), None)  # every word
    assert resolve_dataset(str(tmp_path), str(tmp_path)) == (str(tmp_path), None)
    assert resolve_dataset(None, "japanese_vowels") == (None, None)
    with pytest.raises(ConfigError, match="japanese_vowels is read from the aeon wheel"):
        resolve_dataset(str(tmp_path), "japanese_vowels")
    with pytest.raises(ConfigError, match="name two datasets"):
        resolve_dataset(str(tmp_path), str(tmp_path / "other"))


def _separable(n: int, seed: int) -> FeatureSet:
    """3 classes whose frames differ in the sign pattern of their mean, with noise and random
    lengths: any working cell learns it in a few epochs."""
    rng = np.random.default_rng(seed)
    means = np.array([[1, 1, 0, 0], [-1, 0, 1, 0], [0, -1, -1, 1]], np.float32)

    def split(m: int):
        y = rng.integers(0, 3, m)
        seqs = [means[c] + rng.normal(0, 0.7, (rng.integers(3, 9), 4)).astype(np.float32)
                for c in y]
        return from_sequences(seqs, y, [f"s{i % 5}" for i in range(m)], 4)

    return FeatureSet({"train": split(n), "val": split(60), "test": split(90),
                       "human": split(30)}, ["a", "b", "c"], {"source": "synthetic"})


@pytest.mark.parametrize("cell, backend", [("gru", "scratch"), ("lstm", "native"),
                                           ("rnn_tanh", "scratch")])
def test_trainer_learns_and_reports_each_test_split(cell, backend):
    data = _separable(240, 0)
    m = train({"task": "audio", "cell": cell, "backend": backend, "num_layers": 1,
               "hidden_size": 16, "input_size": 8, "max_epochs": 6, "lr": 0.01,
               "batch_size": 16, "feature_norm": "global"}, data)
    assert m["best_val_acc"] > 0.9 and m["test_acc"] > 0.85 and m["test_human_acc"] > 0.8
    assert m["test_n"] == 90 and m["test_human_n"] == 30
    assert {f"test_recall_{c}" for c in "abc"} <= set(m)
    assert {f"test_human_recall_{c}" for c in "abc"} <= set(m)
    assert "val_human_acc" not in m  # extra splits are test splits only
    confusion = {k: v for k, v in m.items() if k.startswith("test_human_confusion_")}
    assert sum(confusion.values()) == 30
    assert sum(v for k, v in confusion.items() if k[-1] == k[-4]) == round(
        30 * m["test_human_acc"])  # the diagonal is the clips predicted right
    assert not any(k.startswith("test_confusion_") for k in m)
    assert m["best_val_loss"] > 0


def test_audio_driver_side_imports_no_torch():
    """The sweep's driver prepares the data and builds the report without torch."""
    code = ("import sys; from sweeps import speech_commands; import reports.speech; "
            "from rnn_core.tasks import get_task; "
            "data, info = get_task('audio').prepare(None, 0, {'dataset': 'japanese_vowels'}); "
            "assert info['num_classes'] == 9; "
            "assert 'torch' not in sys.modules, 'torch imported on the driver'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_speech_report_tables_per_cell_direction_and_split(tmp_path):
    import pandas as pd

    from reports.speech import accuracy_table, recall_frame, speech_frame, write_speech_report

    runs = pd.DataFrame({
        "run_name": ["gru-L3-H32", "gru-L3-H32-bi", "rnn_tanh-L3-H32-bi"],
        "param.cell": ["gru", "gru", "rnn_tanh"], "param.backend": ["scratch"] * 3,
        "param.bidirectional": ["False", "True", "True"],
        "param.dataset": ["/data/digits"] * 3,
        "best_val_acc": [0.9, 0.95, 0.5], "test_acc": [0.88, 0.93, 0.45],
        "test_n": [100.0] * 3, "test_human_acc": [0.8, 0.85, 0.3], "test_human_n": [20.0] * 3,
        "test_recall_one": [1.0, 0.9, 0.5], "test_human_recall_one": [0.7, 0.6, 0.2],
        "n_params": [10, 20, 5], "epoch_seconds": [1.0] * 3, "epochs_run": [3] * 3,
        "status": ["finished"] * 3})
    frame = speech_frame(runs)
    assert frame["run_name"].tolist()[0] == "gru-L3-H32-bi" and frame["dataset"][0] == "digits"
    table = accuracy_table(frame)
    assert table.columns.tolist() == [
        "cell", "test uni (n=100)", "test uni 95 % CI", "test bi (n=100)", "test bi 95 % CI",
        "human test uni (n=20)", "human test uni 95 % CI", "human test bi (n=20)",
        "human test bi 95 % CI"]
    gru = table.set_index("cell").loc["gru"]
    assert gru.tolist() == [0.88, "0.80-0.93", 0.93, "0.86-0.97", "16/20", "0.58-0.92",
                            "17/20", "0.64-0.95"]
    assert pd.isna(table.set_index("cell").loc["rnn_tanh", "test uni (n=100)"])
    recall = recall_frame(runs, "gru-L3-H32-bi")
    assert recall.to_dict("records") == [{"class": "one", "test": 0.9, "human test": 0.6}]
    summary = write_speech_report(runs, tmp_path, pngs=False)
    assert "human test 17 of 20 right (95 % CI 0.64-0.95)" in summary
    assert (tmp_path / "report.html").exists() and (tmp_path / "pick_recall.csv").exists()


def test_centering_takes_each_sequences_own_mean_frame():
    from rnn_core.data.features import from_sequences

    rng = np.random.default_rng(0)
    seqs = [rng.normal(loc=3.0 * i, size=(n, 4)).astype(np.float32)
            for i, n in enumerate((5, 1, 9))]
    split = from_sequences(seqs, [0, 1, 2], ["a", "b", "c"], 4).centered()
    for i, seq in enumerate(seqs):
        np.testing.assert_allclose(split.sequence(i), seq - seq.mean(0), atol=1e-5)
    assert np.array_equal(split.offsets, from_sequences(seqs, [0, 1, 2], ["a", "b", "c"],
                                                         4).offsets)


def test_feature_norm_auto_keeps_the_speaker_in_japanese_vowels():
    """Japanese Vowels' class is its speaker, partly carried by the mean frame: auto leaves
    it; spoken words are centred."""
    from rnn_core.tasks._audio_train import feature_norm

    assert feature_norm({"dataset": "japanese_vowels"}) == "global"
    assert feature_norm({"dataset": "digits", "feature_norm": "auto"}) == "utterance"
    assert feature_norm({"dataset": "digits", "feature_norm": "global"}) == "global"


def test_utterance_norm_reaches_every_split_the_trainer_uses():
    """With feature_norm utterance, every split the trainer evaluates (human included) has
    each clip's mean frame at zero."""
    data = _separable(240, 0)
    base = {**AudioTrainer.DEFAULTS, "task": "audio", "seed": 0}
    trainer = AudioTrainer({**base, "feature_norm": "utterance"}, data)
    trainer.setup(torch.device("cpu"))
    for name, split in trainer.splits.items():
        means = np.add.reduceat(split.frames, split.offsets[:-1], axis=0)
        assert np.abs(means).max() < 1e-3 * split.lengths.max(), name
