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


def _loss(out: Tensor, last: Tensor, seed: int = 2, lengths: Tensor = LENGTHS) -> Tensor:
    """A loss touching every valid output position and the final state."""
    g = torch.Generator().manual_seed(seed)
    mask = (torch.arange(out.shape[1]) < lengths.unsqueeze(1)).unsqueeze(-1)
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


# --- recurrent state in and out (truncated BPTT) ---

FULL = torch.full((B,), T)


def _state(cell: str, layers: int, bidir: bool, batch: int = B, seed: int = 3):
    """A random initial state in torch's layout: h0, or (h0, c0) for the LSTM."""
    g = torch.Generator().manual_seed(seed)
    shape = (layers * (2 if bidir else 1), batch, H)
    parts = tuple(
        torch.randn(shape, generator=g, dtype=torch.float64).requires_grad_()
        for _ in range(2 if cell == "lstm" else 1)
    )
    return parts if cell == "lstm" else parts[0]


def _parts(state) -> tuple[Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def _state_loss(state, seed: int = 4) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return sum((p * torch.randn(p.shape, generator=g, dtype=p.dtype)).sum() for p in _parts(state))


def _stack_name(torch_name: str, backend: str, bidir: bool) -> str:
    """``nn.LSTM`` parameter name (``weight_ih_l1_reverse``) -> the stack's name for it."""
    if backend == "native" and not bidir:
        return f"rnn.{torch_name}"
    direction = "bwd" if torch_name.endswith("_reverse") else "fwd"
    kind, layer = torch_name.removesuffix("_reverse").rsplit("_l", 1)
    return f"{direction}.{layer}.{kind}_l0"


@pytest.mark.parametrize("ragged", [True, False])
@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", NATIVE)
def test_scratch_equals_native_with_initial_state(cell, layers, bidir, ragged):
    native = _stack(cell, "native", layers, bidir)
    scratch = _stack(cell, "scratch", layers, bidir, seed=99)
    _copy(dict(native.named_parameters()), scratch, lambda n: _scratch_name(n, bidir))
    lengths = LENGTHS if ragged else FULL
    results = []
    for stack in (native, scratch):
        x, state = _inputs(), _state(cell, layers, bidir)
        out, last, final = stack(x, lengths, state, return_state=True)
        (_loss(out, last, lengths=lengths) + _state_loss(final)).backward()
        grads = [p.grad for p in _parts(state)]
        results.append((out, last, final, x.grad, grads, dict(stack.named_parameters())))
    (out_n, last_n, fin_n, gx_n, gs_n, p_n), (out_s, last_s, fin_s, gx_s, gs_s, p_s) = results
    valid = torch.arange(T) < lengths.unsqueeze(1)
    torch.testing.assert_close(out_s[valid], out_n[valid], **TIGHT)
    torch.testing.assert_close(last_s, last_n, **TIGHT)
    assert isinstance(fin_s, tuple) == isinstance(fin_n, tuple) == (cell == "lstm")
    for f_s, f_n in zip(_parts(fin_s), _parts(fin_n), strict=True):
        assert f_s.shape == (layers * (2 if bidir else 1), B, H)
        torch.testing.assert_close(f_s, f_n, **TIGHT)
    torch.testing.assert_close(gx_s, gx_n, **TIGHT)
    for g_s, g_n in zip(gs_s, gs_n, strict=True):
        torch.testing.assert_close(g_s, g_n, **TIGHT)
    for name, p in p_n.items():
        torch.testing.assert_close(p_s[_scratch_name(name, bidir)].grad, p.grad, **TIGHT)


@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize(("cell", "backend"), [c for c in COMBOS if c[0] in NATIVE])
def test_final_state_equals_torch_h_n_for_equal_lengths(cell, backend, layers, bidir):
    torch.manual_seed(0)
    ref = get_cell(cell).native(IN, H, layers, batch_first=True, bidirectional=bidir).double()
    ours = _stack(cell, backend, layers, bidir, seed=99)
    _copy(dict(ref.named_parameters()), ours, lambda n: _stack_name(n, backend, bidir))
    x_ref, x_ours = _inputs(), _inputs()
    s_ref, s_ours = _state(cell, layers, bidir), _state(cell, layers, bidir)
    out_ref, fin_ref = ref(x_ref, s_ref)
    out, _, fin = ours(x_ours, FULL, s_ours, return_state=True)
    torch.testing.assert_close(out, out_ref, **TIGHT)
    for mine, theirs in zip(_parts(fin), _parts(fin_ref), strict=True):  # h_n (and c_n)
        torch.testing.assert_close(mine, theirs, **TIGHT)
    w = torch.randn(out.shape, dtype=out.dtype)
    ((out_ref * w).sum() + _state_loss(fin_ref)).backward()
    ((out * w).sum() + _state_loss(fin)).backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad, **TIGHT)
    for mine, theirs in zip(_parts(s_ours), _parts(s_ref), strict=True):
        torch.testing.assert_close(mine.grad, theirs.grad, **TIGHT)


@pytest.mark.parametrize("given", [False, True])
@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize(("cell", "backend"), COMBOS)
def test_ragged_final_state_equals_each_sequence_alone(cell, backend, layers, bidir, given):
    stack = _stack(cell, backend, layers, bidir).eval()
    x = _inputs()
    state = _state(cell, layers, bidir) if given else None
    with torch.no_grad():
        out, last, final = stack(x, LENGTHS, state, return_state=True)
        out_plain, last_plain = stack(x, LENGTHS, state)  # return_state=False: today's pair
        valid = torch.arange(T) < LENGTHS.unsqueeze(1)
        torch.testing.assert_close(out_plain[valid], out[valid], **TIGHT)
        torch.testing.assert_close(last_plain, last, **TIGHT)
        for k, n in enumerate(LENGTHS.tolist()):
            state_k = None
            if given:
                state_k = tuple(p[:, k : k + 1] for p in _parts(state))
                state_k = state_k if cell == "lstm" else state_k[0]
            out_k, last_k, final_k = stack(x[k : k + 1, :n], LENGTHS[k : k + 1], state_k, True)
            torch.testing.assert_close(out[k, :n], out_k[0], **TIGHT)
            torch.testing.assert_close(last[k], last_k[0], **TIGHT)
            for f, f_k in zip(_parts(final), _parts(final_k), strict=True):
                torch.testing.assert_close(f[:, k], f_k[:, 0], **TIGHT)


@pytest.mark.parametrize(("cell", "backend"), COMBOS)
def test_zero_state_equals_no_state(cell, backend):
    stack = _stack(cell, backend, 2, bidir=True)
    x = _inputs().detach()
    zeros = tuple(torch.zeros_like(p) for p in _parts(_state(cell, 2, True)))
    out, last, final = stack(x, LENGTHS, zeros if cell == "lstm" else zeros[0], True)
    out_none, last_none, final_none = stack(x, LENGTHS, None, True)
    valid = torch.arange(T) < LENGTHS.unsqueeze(1)
    torch.testing.assert_close(out[valid], out_none[valid], **TIGHT)
    torch.testing.assert_close(last, last_none, **TIGHT)
    for f, f_none in zip(_parts(final), _parts(final_none), strict=True):
        torch.testing.assert_close(f, f_none, **TIGHT)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize(("cell", "backend"), COMBOS)
def test_two_chunks_carrying_state_equal_one_run(cell, backend, layers):
    """Truncated BPTT: chunk 2 starts from chunk 1's final state; without a detach the
    gradients also match one run over all T steps."""
    whole, chunked = _stack(cell, backend, layers), _stack(cell, backend, layers)
    x_w, x_c = _inputs(), _inputs()
    s_w, s_c = _state(cell, layers, False), _state(cell, layers, False)
    out_w, _, fin_w = whole(x_w, FULL, s_w, return_state=True)
    cut = 3
    out_1, _, fin_1 = chunked(x_c[:, :cut], torch.full((B,), cut), s_c, return_state=True)
    out_2, _, fin_2 = chunked(x_c[:, cut:], torch.full((B,), T - cut), fin_1, return_state=True)
    out_c = torch.cat([out_1, out_2], 1)
    torch.testing.assert_close(out_c, out_w, **TIGHT)
    for f_c, f_w in zip(_parts(fin_2), _parts(fin_w), strict=True):
        torch.testing.assert_close(f_c, f_w, **TIGHT)
    w = torch.randn(out_w.shape, dtype=out_w.dtype)
    ((out_w * w).sum() + _state_loss(fin_w)).backward()
    ((out_c * w).sum() + _state_loss(fin_2)).backward()
    torch.testing.assert_close(x_c.grad, x_w.grad, **TIGHT)
    for g_c, g_w in zip(_parts(s_c), _parts(s_w), strict=True):
        torch.testing.assert_close(g_c.grad, g_w.grad, **TIGHT)
    p_c = dict(chunked.named_parameters())
    for name, p in whole.named_parameters():
        torch.testing.assert_close(p_c[name].grad, p.grad, **TIGHT)


@pytest.mark.parametrize("cell", list(CELLS))
def test_scratch_function_gradcheck_with_initial_state(cell):
    """The autograd Function itself, time-major, with h0 (and c0) given; the LSTM's second
    output c_t is checked too."""
    torch.manual_seed(0)
    layer = layer_builder(cell, "scratch")(2, 3).double()
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)  # (T, B, I)
    parts = 2 if cell == "lstm" else 1
    state = [torch.randn(2, 3, dtype=torch.float64, requires_grad=True) for _ in range(parts)]
    params = (layer.weight_ih_l0, layer.bias_ih_l0, layer.weight_hh_l0, layer.bias_hh_l0)

    def run(x, *args):
        return layer._fn.apply(x, *args, *layer._options)

    assert torch.autograd.gradcheck(run, (x, *params, *state))


@pytest.mark.parametrize("given", ["h0", "c0"])
def test_lstm_function_gradcheck_with_h0_or_c0_alone(given):
    torch.manual_seed(0)
    layer = layer_builder("lstm", "scratch")(2, 3).double()
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    s = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    params = (layer.weight_ih_l0, layer.bias_ih_l0, layer.weight_hh_l0, layer.bias_hh_l0)

    def run(x, s, *p):
        return layer._fn.apply(x, *p, *((s, None) if given == "h0" else (None, s)))

    assert torch.autograd.gradcheck(run, (x, s, *params))


@pytest.mark.parametrize("cell", list(CELLS))
def test_final_state_only_loss_gradcheck(cell):
    """A loss on the ragged final state alone (outputs unused) gets every gradient."""
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 2, 3, 2, backend="scratch").double()
    x = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 3])
    state = _parts(_state(cell, 2, False, batch=3))

    def run(x, *s):
        s0 = tuple(s) if cell == "lstm" else s[0]
        return _parts(stack(x, lengths, s0, return_state=True)[2])

    assert torch.autograd.gradcheck(run, (x, *state))


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_state_shape_is_a_clear_error(backend):
    gru = RecurrentStack("gru", IN, H, 2, backend=backend)
    lstm = RecurrentStack("lstm", IN, H, 1, bidirectional=True, backend=backend)
    x = torch.randn(B, T, IN)
    good = torch.zeros(2, B, H)
    bad = [
        (gru, torch.zeros(1, B, H)),  # one layer's worth
        (gru, torch.zeros(2, B + 1, H)),  # another batch
        (gru, torch.zeros(2, B, H + 1)),
        (gru, (good, good)),  # a pair for a cell without c
        (lstm, good),  # h0 alone
        (lstm, (good, torch.zeros(1, B, H))),
        (lstm, (good, good, good)),
    ]
    for stack, state in bad:
        with pytest.raises(ValueError, match=r"^state of this .* must be .* of shape \(2, 4, 3\)"):
            stack(x, LENGTHS, state)
    gru(x, LENGTHS, good)
    lstm(x, LENGTHS, (good, good), return_state=True)
    with pytest.raises(ValueError, match=r"GRULayer state must be h0 of shape \(4, 3\)"):
        layer_builder("gru", "scratch")(IN, H)(x, torch.zeros(B, H + 1))
