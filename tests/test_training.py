from __future__ import annotations

import pytest
import torch

from rnn_core.tasks import train
from rnn_core.tasks._text_train import build_model, evaluate
from rnn_core.training import OPTIMIZERS

SMALL = {"num_layers": 1, "hidden_size": 32, "embedding_dim": 16, "max_epochs": 3,
         "train_subset": 600, "val_subset": 200, "test_subset": 200, "optimizer": "adam",
         "lr": 3e-3, "seed": 3}
TIMING = {"tokens_per_s", "epoch_seconds", "test_seconds"}


def test_reports_every_epoch_and_tests_the_best_state_once(reviews):
    reports = []
    final = train(SMALL, reviews, report=lambda m, ckpt: reports.append((m, ckpt)))
    assert [m["epoch"] for m, _ in reports] == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_acc", "n_params", "tokens_per_s"} <= set(final)
    assert [("test_acc" in m) for m, _ in reports] == [False, False, True]
    # "improved" is set exactly when validation improved; best_val tracks it
    best = -1.0
    for m, st in reports:
        assert st["improved"] == (m["val_acc"] > best)
        best = max(best, m["val_acc"])
        assert st["best_val"] == best
    assert final["best_val_acc"] == best
    # test_acc is the best-on-validation state's, not the last epoch's
    last_ckpt = reports[-1][1]
    model = build_model(last_ckpt["config"], reviews.vocab_size)
    model.load_state_dict(last_ckpt["best_state"])
    test = reviews.splits["test"].subset(200, 3)
    acc = evaluate(model, test, 256, torch.device("cpu"))["acc"]
    assert acc == pytest.approx(final["test_acc"])
    assert set(last_ckpt["model_config"]) >= {"vocab_size", "hidden_size", "cell"}


def test_test_every_epoch_logs_each_epochs_test_and_changes_nothing_else(reviews):
    """``test_every_epoch`` (recording a benchmark table): the current model's test metrics
    after every epoch; the best-on-validation epoch's equal the final ``test_acc``, and the
    training itself is the same as without it."""
    cfg = {**SMALL, "seed": 4}
    plain, logged = [], []
    train(cfg, reviews, report=lambda m, st: plain.append(m))
    train({**cfg, "test_every_epoch": True}, reviews, report=lambda m, st: logged.append(m))
    assert all({"epoch_test_acc", "epoch_test_loss"} <= set(m) for m in logged)
    assert not any("epoch_test_acc" in m for m in plain)
    for a, b in zip(plain, logged, strict=True):
        assert a["val_acc"] == b["val_acc"] and a["train_loss"] == b["train_loss"]
    vals = [m["val_acc"] for m in logged]
    best_epoch = vals.index(max(vals))  # the first that reached the best is the one kept
    assert logged[best_epoch]["epoch_test_acc"] == pytest.approx(logged[-1]["test_acc"])


def test_same_seed_same_metrics(reviews):
    """Determinism on CPU: the same seed gives the same metrics at every epoch."""
    def history(seed: int) -> list[dict]:
        out = []
        train({**SMALL, "max_epochs": 2, "seed": seed}, reviews,
              report=lambda m, st: out.append({k: v for k, v in m.items() if k not in TIMING}))
        return out

    a, b, c = history(3), history(3), history(4)
    assert len(a) == 2 and a == b
    assert a != c


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_trains(reviews, optimizer):
    m = train({**SMALL, "optimizer": optimizer, "max_epochs": 1, "train_subset": 128,
               "val_subset": 64, "test_subset": 64}, reviews)
    assert 0.0 <= m["val_acc"] <= 1.0 and m["train_loss"] > 0


def _snapshot(state: dict, path) -> dict:
    """What a checkpoint keeps: saved and loaded back the way trials do it (the per-example
    test results go to a NumPy file of their own, not into the state)."""
    torch.save({k: v for k, v in state.items() if k != "test_outputs"}, path)
    return torch.load(path, weights_only=True)


def test_the_last_epoch_hands_over_the_per_example_test_results(reviews):
    """Each test example's predicted class and correctness, in a fixed order, for paired
    comparisons; they agree with the test accuracy and its interval's n."""
    states = []
    m = train({**SMALL, "max_epochs": 2}, reviews, report=lambda m, st: states.append(st))
    assert "test_outputs" not in states[0]
    out = states[-1]["test_outputs"]
    assert len(out["correct"]) == m["test_n"] == len(out["label"]) == len(out["predicted"])
    assert out["correct"].mean() == pytest.approx(m["test_acc"])
    assert (out["correct"] == (out["label"] == out["predicted"])).all()
    assert m["test_acc_ci_low"] < m["test_acc"] < m["test_acc_ci_high"]


@pytest.mark.parametrize("device", [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs CUDA")]),
])
def test_resuming_from_an_epoch_checkpoint_continues_exactly(reviews, tmp_path, device):
    """Dropout draws from the device's RNG: on CUDA the checkpoint carries its streams too."""
    cfg = {**SMALL, "device": device}
    straight = []
    train(cfg, reviews, report=lambda m, st: straight.append(m))
    saved = {}

    def keep(m, st):
        assert ("cuda_rng" in st) == (device == "cuda")
        saved[m["epoch"]] = _snapshot(st, tmp_path / f"e{m['epoch']}.pt")

    train({**cfg, "max_epochs": 2}, reviews, report=keep)  # "interrupted" after epoch 2
    resumed = []
    train(cfg, reviews, report=lambda m, st: resumed.append(m), state=saved[2])
    assert [m["epoch"] for m in resumed] == [3]
    strip = lambda m: {k: v for k, v in m.items() if k not in TIMING}  # noqa: E731
    assert strip(resumed[0]) == strip(straight[2])


def test_intervals_rest_on_the_counts_the_trainer_logged():
    from rnn_core.training import accuracy_intervals

    out = accuracy_intervals({"acc": 0.9, "n": 20.0, "human_acc": 0.5, "recall_one": 0.75,
                              "support_one": 4.0, "recall_two": 1.0, "loss": 0.3})
    assert out["acc_ci_low"] == pytest.approx(0.6990, abs=1e-4)  # 18 of 20
    assert out["recall_one_ci_low"] == pytest.approx(0.3006, abs=1e-4)  # 3 of 4
    # no count logged (human_n, support_two): no interval rather than a guessed one
    assert set(out) == {"acc_ci_low", "acc_ci_high", "recall_one_ci_low", "recall_one_ci_high"}
