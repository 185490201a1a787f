"""Training precision: auto/explicit choice from the hardware, bf16 autocast that trains every
cell and backend, float32 where it must stay float32, and refusal where bf16 is not native."""

from __future__ import annotations

import math

import pytest
import torch

from rnn_core import precision
from rnn_core.amp import Amp
from rnn_core.errors import ConfigError
from rnn_core.language_model import linear_cross_entropy
from rnn_core.models import ModelConfig, SequenceClassifier

VARIANTS = [(c, b) for c in ("rnn_tanh", "rnn_relu", "lstm", "gru", "mgu")
            for b in ("native", "scratch") if not (c == "mgu" and b == "native")]


@pytest.fixture
def cpu_flags(monkeypatch):
    """Fake the CPU's capability check (not the training): ``cpu_flags(("avx512_bf16",))``."""
    def fake(flags: tuple[str, ...]) -> None:
        monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: flags)
    return fake


def test_auto_picks_bf16_only_where_the_cpu_runs_it_natively(cpu_flags):
    cpu_flags(("avx512_bf16",))
    assert precision.resolve_precision("auto", "cpu") == "bf16"
    assert precision.resolve_precision("bf16", "cpu") == "bf16"
    assert precision.resolve_precision("fp32", "cpu") == "fp32"
    cpu_flags(("amx_bf16",))
    assert precision.resolve_precision("auto", "cpu") == "bf16"
    cpu_flags(())
    assert precision.resolve_precision("auto", "cpu") == "fp32"


def test_bf16_without_native_support_and_fp16_on_cpu_are_refused(cpu_flags):
    cpu_flags(())
    with pytest.raises(ConfigError, match=r"^--precision bf16: this CPU \(no avx512_bf16 or "
                                          r"amx_bf16 in /proc/cpuinfo\) has no native bfloat16"):
        precision.resolve_precision("bf16", "cpu")
    with pytest.raises(ConfigError, match="--precision fp16 needs a CUDA GPU"):
        precision.resolve_precision("fp16", "cpu")


def test_the_study_refuses_bf16_before_any_work(cpu_flags, tmp_path, capsys, monkeypatch):
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    from sweeps import compound_scaling
    from sweeps._common import main_guard

    cpu_flags(())
    monkeypatch.chdir(tmp_path)
    code = main_guard(lambda: compound_scaling.main(
        ["--smoke-test", "--precision", "bf16", "--tracking-uri", f"sqlite:///{tmp_path}/m.db"]))
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--precision bf16: this CPU" in err[0]
    assert not (tmp_path / "m.db").exists()


@pytest.mark.parametrize("cell,backend", VARIANTS)
def test_bf16_autocast_trains_every_cell_and_backend(cell, backend):
    if (cell, backend) == ("lstm", "native") and not precision.cpu_bf16_flags():
        pytest.skip("oneDNN has no bfloat16 LSTM kernel on a CPU without AVX-512 BF16 "
                    "(where --precision bf16 is refused)")
    torch.manual_seed(0)
    model = SequenceClassifier(ModelConfig(vocab_size=40, embedding_dim=8, hidden_size=16,
                                           num_layers=2, cell=cell, backend=backend,
                                           dropout=0.0))
    tokens = torch.randint(1, 40, (16, 12))
    lengths = torch.randint(4, 13, (16,))
    labels = (tokens[:, 0] > 20).long()  # learnable from the first token
    amp = Amp(torch.device("cpu"), "bf16")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(80):
        with amp.autocast():
            logits = model(tokens, lengths)
        assert logits.dtype == torch.bfloat16
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        amp.step(loss, opt, list(model.parameters()), 5.0)
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], (cell, backend, losses[0], losses[-1])
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights
    assert all(p.grad.dtype == torch.float32 for p in model.parameters() if p.grad is not None)


def test_fused_decoder_under_bf16_keeps_softmax_and_gradients_float32():
    torch.manual_seed(0)
    h = torch.randn(30, 16, requires_grad=True)
    w = torch.randn(50, 16, requires_grad=True)
    b = torch.zeros(50, requires_grad=True)
    y = torch.randint(0, 50, (30,))
    ref, _ = linear_cross_entropy(h, w, b, y)
    ref.backward()
    grads = [t.grad.clone() for t in (h, w, b)]
    for t in (h, w, b):
        t.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low, n = linear_cross_entropy(h, w, b, y)
    assert low.dtype == torch.float32 and n == 30
    low.backward()
    assert math.isclose(low.item(), ref.item(), rel_tol=2e-2)
    for got, want in zip((h.grad, w.grad, b.grad), grads, strict=True):
        assert got.dtype == torch.float32
        assert torch.allclose(got, want, rtol=0.05, atol=0.05 * want.abs().max().item())


def test_a_bf16_trial_reports_float32_metrics_and_checkpoints(reviews):
    from rnn_core.tasks import train

    cfg = {"num_layers": 1, "hidden_size": 16, "embedding_dim": 8, "max_epochs": 2,
           "train_subset": 128, "val_subset": 64, "test_subset": 64, "backend": "scratch",
           "precision": "bf16", "seed": 1}
    reported = []
    train(cfg, reviews, report=lambda m, st: reported.append((m, st)))
    for metrics, state in reported:
        assert all(isinstance(v, float | int) and math.isfinite(v) for v in metrics.values())
        for name in ("model", "best_state"):
            assert all(t.dtype == torch.float32 for t in state[name].values()
                       if t.is_floating_point()), name
    assert reported[-1][0]["test_acc"] >= 0.0 and reported[0][1]["config"]["precision"] == "bf16"
