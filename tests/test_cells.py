"""Scratch cells and the recurrent stack: shapes, ragged batches, scratch == native, counts."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from rnn_core.cells import BACKENDS, CELLS, MGUCell, MGULayer, get_cell, layer_builder
from rnn_core.models import ModelConfig, SequenceClassifier, count_parameters
from rnn_core.stack import RecurrentStack

B, T, IN, H = 4, 7, 5, 3
LENGTHS = torch.tensor([7, 3, 1, 5])
NATIVE = [name for name, spec in CELLS.items() if spec.native is not None]
COMBOS = [(c, b) for c in CELLS for b in BACKENDS if b == "scratch" or CELLS[c].native]
TIGHT = {"rtol": 1e-10, "atol": 1e-12}


def _stack(cell: str, backend: str, layers: int = 1, bidir: bool = False, seed: int = 0):
    torch.manual_seed(seed)
    return RecurrentStack(cell, IN, H, layers, bidir, 0.0, backend).double()


def _inputs(seed: int = 1) -> Tensor:
    torch.manual_seed(seed)
    return torch.randn(B, T, IN, dtype=torch.float64, requires_grad=True)


def _scratch_name(native_name: str, bidir: bool) -> str:
    """Native stack parameter name -> scratch stack name (fused ``rnn.*_l{k}`` -> ``fwd.k``)."""
    if bidir:
        return native_name  # both use fwd.k / bwd.k single-layer modules
    kind, layer = native_name.removeprefix("rnn.").rsplit("_l", 1)
    return f"fwd.{layer}.{kind}_l0"


def _copy(src: dict[str, Tensor], dst: nn.Module, rename) -> None:
    params = dict(dst.named_parameters())
    assert len(params) == len(src)
    with torch.no_grad():
        for name, value in src.items():
            params[rename(name)].copy_(value)


def _loss(out: Tensor, last: Tensor, seed: int = 2) -> Tensor:
    """A loss touching every valid output position and the final state."""
    g = torch.Generator().manual_seed(seed)
    mask = (torch.arange(out.shape[1]) < LENGTHS.unsqueeze(1)).unsqueeze(-1)
    w_out = torch.randn(out.shape, generator=g, dtype=out.dtype)
    w_last = torch.randn(last.shape, generator=g, dtype=last.dtype)
    return (out * w_out * mask).sum() + (last * w_last).sum()


@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize(("cell", "backend"), COMBOS)
def test_output_shapes_and_bidirectional_doubles_features(cell, backend, bidir):
    stack = _stack(cell, backend, layers=2, bidir=bidir)
    out, last = stack(_inputs(), LENGTHS)
    d = 2 if bidir else 1
    assert stack.output_size == d * H
    assert out.shape == (B, T, d * H)
    assert last.shape == (B, d * H)


@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize(("cell", "backend"), COMBOS)
def test_ragged_batch_equals_one_by_one(cell, backend, layers, bidir):
    stack = _stack(cell, backend, layers, bidir).eval()
    x = _inputs()
    with torch.no_grad():
        out, last = stack(x, LENGTHS)
        for k, n in enumerate(LENGTHS.tolist()):
            out_k, last_k = stack(x[k : k + 1, :n], LENGTHS[k : k + 1])
            torch.testing.assert_close(out[k, :n], out_k[0], **TIGHT)
            torch.testing.assert_close(last[k], last_k[0], **TIGHT)


@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("cell", NATIVE)
def test_scratch_equals_native_outputs_and_gradients(cell, layers, bidir):
    native = _stack(cell, "native", layers, bidir)
    scratch = _stack(cell, "scratch", layers, bidir, seed=99)
    _copy(dict(native.named_parameters()), scratch, lambda n: _scratch_name(n, bidir))
    results = []
    for stack in (native, scratch):
        x = _inputs()
        out, last = stack(x, LENGTHS)
        _loss(out, last).backward()
        results.append((out, last, x.grad, dict(stack.named_parameters())))
    (out_n, last_n, gx_n, p_n), (out_s, last_s, gx_s, p_s) = results
    valid = torch.arange(T) < LENGTHS.unsqueeze(1)
    torch.testing.assert_close(out_s[valid], out_n[valid], **TIGHT)
    torch.testing.assert_close(last_s, last_n, **TIGHT)
    torch.testing.assert_close(gx_s, gx_n, **TIGHT)
    for name, p in p_n.items():
        torch.testing.assert_close(p_s[_scratch_name(name, bidir)].grad, p.grad, **TIGHT)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", NATIVE)
def test_bidirectional_equals_torch_bidirectional_for_equal_lengths(cell, layers):
    torch.manual_seed(0)
    ref = get_cell(cell).native(IN, H, layers, batch_first=True, bidirectional=True).double()
    ours = _stack(cell, "scratch", layers, bidir=True, seed=99)

    def rename(name: str) -> str:
        direction = "bwd" if name.endswith("_reverse") else "fwd"
        kind, layer = name.removesuffix("_reverse").rsplit("_l", 1)
        return f"{direction}.{layer}.{kind}_l0"

    _copy(dict(ref.named_parameters()), ours, rename)
    full = torch.full((B,), T)
    x_ref, x_ours = _inputs(), _inputs()
    out_ref, h_n = ref(x_ref)
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n  # LSTM: (h_n, c_n)
    out, last = ours(x_ours, full)
    torch.testing.assert_close(out, out_ref, **TIGHT)
    torch.testing.assert_close(last, torch.cat([h_n[-2], h_n[-1]], -1), **TIGHT)
    w = torch.randn(out.shape, dtype=out.dtype)
    (out_ref * w).sum().backward()
    (out * w).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad, **TIGHT)
    ours_params = dict(ours.named_parameters())
    for name, p in ref.named_parameters():
        torch.testing.assert_close(ours_params[rename(name)].grad, p.grad, **TIGHT)


@pytest.mark.parametrize("cell", NATIVE)
def test_scratch_equals_native_when_inputs_need_no_gradient(cell):
    native, scratch = _stack(cell, "native", 2), _stack(cell, "scratch", 2, seed=99)
    _copy(dict(native.named_parameters()), scratch, lambda n: _scratch_name(n, False))
    x = _inputs().detach()
    for stack in (native, scratch):
        _loss(*stack(x, LENGTHS)).backward()
    for name, p in native.named_parameters():
        torch.testing.assert_close(
            dict(scratch.named_parameters())[_scratch_name(name, False)].grad, p.grad, **TIGHT
        )


@pytest.mark.parametrize("cell", NATIVE)
def test_scratch_equals_native_float32(cell):
    torch.manual_seed(0)
    native = get_cell(cell).native(IN, H, 1, batch_first=True)
    scratch = layer_builder(cell, "scratch")(IN, H)
    scratch.load_state_dict(native.state_dict())  # same names and shapes: copies 1:1
    x = torch.randn(B, 50, IN)
    torch.testing.assert_close(scratch(x)[0], native(x)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell", list(CELLS))
def test_scratch_layer_gradcheck(cell):
    torch.manual_seed(0)
    layer = layer_builder(cell, "scratch")(2, 3).double()
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, *p: layer(x)[0], (x, *layer.parameters()))


@pytest.mark.parametrize("cell", list(CELLS))
def test_scratch_bias_gradients_are_separate_tensors(cell):
    layer = layer_builder(cell, "scratch")(2, 3)
    for _ in range(2):  # accumulate twice: a shared tensor would double-count
        layer(torch.randn(2, 4, 2))[0].sum().backward()
    assert layer.bias_ih_l0.grad.data_ptr() != layer.bias_hh_l0.grad.data_ptr()


@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize(("cell", "backend"), COMBOS)
def test_parameter_count_closed_form(cell, backend, layers, bidir):
    g, d = get_cell(cell).gates, 2 if bidir else 1
    expected = sum(d * g * H * ((IN if k == 0 else d * H) + H + 2) for k in range(layers))
    assert count_parameters(_stack(cell, backend, layers, bidir)) == expected


def test_gate_counts():
    assert {name: spec.gates for name, spec in CELLS.items()} == {
        "rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3, "mgu": 2,
    }  # fmt: skip
    for spec in CELLS.values():
        layer = spec.scratch(IN, H)
        assert layer.weight_ih_l0.shape == (spec.gates * H, IN)
        assert layer.weight_hh_l0.shape == (spec.gates * H, H)
        if spec.native is not None:
            shapes = {n: p.shape for n, p in spec.native(IN, H, 1).named_parameters()}
            assert shapes == {n: p.shape for n, p in layer.named_parameters()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_study_s1_gru_parameter_count(backend):
    torch_model = nn.ModuleList([nn.GRU(300, 100, num_layers=2), nn.Linear(100, 2)])
    assert count_parameters(torch_model) == 181_402
    ours = nn.ModuleList([RecurrentStack("gru", 300, 100, 2, backend=backend), nn.Linear(100, 2)])
    assert count_parameters(ours) == 181_402


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _mgu_step(x: float, h: float) -> float:
    """One MGU step by hand, H = IN = 1, with the weights set in ``_mgu_weights``."""
    f = _sigmoid(0.5 * x - 1.0 * h + (0.1 - 0.3))  # W_f [h, x] + b_f
    cand = math.tanh(2.0 * x + 0.25 + 0.5 * (f * h))  # W_h x + b_h + U_h (f * h)
    return (1 - f) * h + f * cand


def _mgu_weights(module: nn.Module, suffix: str) -> None:
    values = {"weight_ih": [[0.5], [2.0]], "weight_hh": [[-1.0], [0.5]],
              "bias_ih": [0.1, 0.25], "bias_hh": [-0.3, 0.0]}  # fmt: skip
    with torch.no_grad():
        for name, v in values.items():
            getattr(module, name + suffix).copy_(torch.tensor(v, dtype=torch.float64))


def test_mgu_matches_hand_computation():
    cell, layer = MGUCell(1, 1).double(), MGULayer(1, 1).double()
    _mgu_weights(cell, "")
    _mgu_weights(layer, "_l0")
    x, h = 0.8, 0.6
    step = cell(torch.tensor([[x]], dtype=torch.float64), torch.tensor([[h]], dtype=torch.float64))
    assert step.item() == pytest.approx(_mgu_step(x, h), rel=1e-12)
    xs = torch.tensor([[[-0.4], [x], [1.5]]], dtype=torch.float64)  # (1, 3, 1)
    h1 = _mgu_step(-0.4, 0.0)
    h2 = _mgu_step(x, h1)
    expected = [h1, h2, _mgu_step(1.5, h2)]
    assert layer(xs)[0].flatten().tolist() == pytest.approx(expected, rel=1e-12)


def test_mgu_layer_equals_cell_loop_outputs_and_gradients():
    torch.manual_seed(0)
    layer, cell = MGULayer(IN, H).double(), MGUCell(IN, H).double()
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x_layer, x_cell = _inputs(), _inputs()
    out = layer(x_layer)[0]
    h, steps = torch.zeros(B, H, dtype=torch.float64), []
    for t in range(T):
        h = cell(x_cell[:, t], h)
        steps.append(h)
    ref = torch.stack(steps, 1)
    torch.testing.assert_close(out, ref, **TIGHT)
    w = torch.randn(out.shape, dtype=out.dtype)
    (out * w).sum().backward()
    (ref * w).sum().backward()
    torch.testing.assert_close(x_layer.grad, x_cell.grad, **TIGHT)
    for p_layer, p_cell in zip(layer.parameters(), cell.parameters(), strict=True):
        torch.testing.assert_close(p_layer.grad, p_cell.grad, **TIGHT)


def test_unknown_cell_lists_valid_names():
    for make in (lambda: get_cell("transformer"), lambda: RecurrentStack("transformer", IN, H)):
        with pytest.raises(ValueError, match="unknown cell 'transformer'") as err:
            make()
        for name in CELLS:
            assert name in str(err.value)


def test_unknown_backend_and_native_mgu_are_clear_errors():
    with pytest.raises(ValueError, match="unknown backend 'cuda'; valid backends: native, scratch"):
        RecurrentStack("lstm", IN, H, backend="cuda")
    with pytest.raises(ValueError, match="'mgu' has no native torch implementation"):
        RecurrentStack("mgu", IN, H, backend="native")


def test_native_unidirectional_stays_one_fused_module():
    stack = RecurrentStack("lstm", IN, H, num_layers=3)
    assert isinstance(stack.rnn, nn.LSTM) and stack.rnn.num_layers == 3


@pytest.mark.parametrize("cell", list(CELLS))
def test_classifier_trains_with_scratch_backend(cell):
    cfg = ModelConfig(50, 8, H, num_layers=2, cell=cell, bidirectional=True, backend="scratch")
    model = SequenceClassifier(cfg)
    if cell == "lstm":  # reset_parameters finds the scratch names: forget-gate bias 1
        assert model.rnn.fwd[0].bias_ih_l0[H : 2 * H].eq(1).all()
    tokens = torch.randint(1, 50, (B, T))
    logits = model(tokens, LENGTHS)
    nn.functional.cross_entropy(logits, torch.zeros(B, dtype=torch.long)).backward()
    assert logits.shape == (B, 2)
    assert all(p.grad is not None for p in model.rnn.parameters())
