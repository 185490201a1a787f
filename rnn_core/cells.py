"""Recurrent cells written from scratch, and the registry that maps a cell name to its layers.

A scratch layer runs one direction of one layer as one ``autograd.Function`` over a padded,
time-major batch:

* forward: the input projections of all T steps are ONE matrix product, x W_ih^T + b (T*B rows);
  the recurrence then loops in Python over that buffer, finishing each step's gates in place:
  one in-place ``addmm`` with W_hh plus a few elementwise ops into preallocated outputs;
* backward (BPTT written by hand): the gate derivatives that do not depend on the carried
  gradient are computed for all steps at once with torch's fused ``sigmoid_backward`` /
  ``tanh_backward`` kernels and scaled in place inside the loop (per step one ``addmm`` and
  2-5 elementwise ops); the gradients of x, W_ih, W_hh and the biases are then one matrix
  product or sum each over all steps.

No per-step autograd graph is recorded, and few large buffers are allocated (each costs page
faults on every call). ``torch.jit.script`` is deprecated in torch 2.13, so none is used.
The Functions themselves are in ``rnn_core._cell_autograd`` (shared helpers, Elman) and
``rnn_core._gated_cell_autograd`` (LSTM, GRU, MGU).

Parameters have torch's names, shapes and gate order (``weight_ih_l0`` (G*H, I),
``weight_hh_l0`` (G*H, H), ``bias_ih_l0``, ``bias_hh_l0``; LSTM i,f,g,o; GRU r,z,n), so weights
copy 1:1 from ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``. Outputs at padded positions are computed
like any other step; the stack reads each sequence's state at its own length, so they never reach
a result.

Initial state: each Function takes h0 (B, H) (LSTM also c0 (B, H)); None means zero and runs the
zero-state code unchanged, where step 0 has no recurrent term. A given h0 adds that term
(h0 W_hh^T) to step 0's pre-activations, and backward returns dL/dh0 (and dL/dc0) and adds
d_pre_0^T h0 to the gradient of W_hh. The outputs h_t are the per-step states, so a final state
is read from them at each sequence's length; the LSTM Function also returns its cell states c_t
(T, B, H) and takes their gradient, so the final c can be read there too (truncated BPTT carries
(h, c) from one chunk to the next).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from rnn_core._cell_autograd import ElmanFn
from rnn_core._gated_cell_autograd import GRUFn, LSTMFn, MGUFn
from rnn_core.errors import ConfigError

__all__ = [
    "BACKENDS",
    "CELLS",
    "CellSpec",
    "GRULayer",
    "LSTMLayer",
    "MGUCell",
    "MGULayer",
    "RNNLayer",
    "get_cell",
    "layer_builder",
]

BACKENDS = ("native", "scratch")


class _ScratchLayer(nn.Module):
    """One direction of one layer; ``forward(x (B, T, I), state) -> (outputs (B, T, H), cells)``.

    ``state`` is h0 (B, H), for the LSTM a pair (h0, c0); ``cells`` is the LSTM's c_t (B, T, H)
    and None for the other cells, whose outputs are their states.
    """

    gates: int = 1
    _fn: type[torch.autograd.Function]
    _options: tuple = ()
    _state_parts = 1  # tensors in the state: h, or (h, c) for the LSTM

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        g = self.gates * hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(g, hidden_size))
        self.bias_ih_l0 = nn.Parameter(torch.empty(g))
        self.bias_hh_l0 = nn.Parameter(torch.empty(g))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as torch does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(
        self, x: Tensor, state: Tensor | tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Run the layer from ``state`` (None: zeros) over every step of x.

        Args:
            x: (B, T, I).
            state: h0 (B, H); for the LSTM a pair (h0, c0), each (B, H).

        Returns:
            outputs h_t (B, T, H) and, for the LSTM, the cell states c_t (B, T, H) (None for
            the other cells). The final state of a sequence of length n is step n - 1 of these;
            the stack reads it there.
        """
        xt = x.transpose(0, 1).contiguous()  # (T, B, I); no copy when x came from this layer
        params = (self.weight_ih_l0, self.bias_ih_l0, self.weight_hh_l0, self.bias_hh_l0)
        if state is None:
            init = (None,) * self._state_parts
        else:
            init = (state,) if self._state_parts == 1 else tuple(state)
            expected = (x.shape[0], self.hidden_size)
            if len(init) != self._state_parts or any(tuple(s.shape) != expected for s in init):
                kind = "(h0, c0), each" if self._state_parts == 2 else "h0"
                raise ValueError(f"{type(self).__name__} state must be {kind} of shape "
                                 f"{expected} (batch, hidden_size)")
        if torch.is_autocast_enabled(x.device.type):
            # The Function's hand-written backward needs one dtype throughout, which autocast
            # would not give it (its products in bf16, its in-place steps in their inputs'
            # dtype): cast everything to the autocast dtype here instead, and run it with
            # autocast off. Autograd casts the gradients back to the float32 parameters.
            low = torch.get_autocast_dtype(x.device.type)
            xt, params = xt.to(low), tuple(p.to(low) for p in params)
            init = tuple(None if s is None else s.to(low) for s in init)
            with torch.autocast(x.device.type, enabled=False):
                out = self._fn.apply(xt, *params, *init, *self._options)
        else:
            out = self._fn.apply(xt, *params, *init, *self._options)
        if self._state_parts == 2:  # LSTM: (h_t, c_t)
            return out[0].transpose(0, 1), out[1].transpose(0, 1)
        return out.transpose(0, 1), None

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNNLayer(_ScratchLayer):
    """Elman (1990) network: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act tanh or relu."""

    gates, _fn = 1, ElmanFn

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self._options = (nonlinearity == "relu",)
        super().__init__(input_size, hidden_size)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nonlinearity={self.nonlinearity!r}"


class LSTMLayer(_ScratchLayer):
    """LSTM (Hochreiter & Schmidhuber, 1997; forget gate of Gers et al., 2000), torch's i,f,g,o.

    c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t).
    """

    gates, _fn, _state_parts = 4, LSTMFn, 2


class GRULayer(_ScratchLayer):
    """GRU (Cho et al., 2014), torch's r,z,n form.

    n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h.
    """

    gates, _fn = 3, GRUFn


class MGULayer(_ScratchLayer):
    """Minimal gated unit (Zhou et al., 2016, "Minimal gated unit for recurrent neural networks")
    in the form the reference studies call pmGRU (Heck & Salem, 2017, "Simplified minimal gated
    unit variations for recurrent neural networks"):

        f = sigmoid(W_f [h, x]);  h~ = tanh(W_h x + U_h (f * h));  h' = (1 - f) * h + f * h~.

    Two gate blocks (G=2): rows [:H] of ``weight_ih_l0`` / ``weight_hh_l0`` are W_f's x and h
    parts, rows [H:] are W_h and U_h; each block has ``bias_ih`` + ``bias_hh``.
    """

    gates, _fn = 2, MGUFn


class MGUCell(nn.Module):
    """One MGU step with plain autograd ops, laid out like ``nn.GRUCell`` (see ``MGULayer``).

    Used where a step-by-step loop is wanted (the reference studies' batch-1 way) and as the
    readable definition the fused layer is tested against.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(2 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(2 * hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        """x (B, I), h (B, H) -> h' (B, H)."""
        hs = self.hidden_size
        gx = x @ self.weight_ih.t() + self.bias_ih + self.bias_hh  # (B, 2H)
        f = torch.sigmoid(gx[:, :hs] + h @ self.weight_hh[:hs].t())
        cand = torch.tanh(gx[:, hs:] + (f * h) @ self.weight_hh[hs:].t())
        return (1 - f) * h + f * cand


@dataclass(frozen=True)
class CellSpec:
    """How to build a cell: ``gates`` blocks of H rows per weight, and one builder per backend.

    Attributes:
        gates: G in the parameter shapes (G*H, I) and (G*H, H).
        scratch: (input_size, hidden_size) -> one-direction scratch layer.
        native: torch ``nn.RNNBase`` constructor taking (input_size, hidden_size, num_layers,
            batch_first=..., dropout=...), or None when torch has no such cell.
    """

    gates: int
    scratch: Callable[[int, int], nn.Module]
    native: Callable[..., nn.RNNBase] | None


CELLS: dict[str, CellSpec] = {
    "rnn_tanh": CellSpec(1, partial(RNNLayer, nonlinearity="tanh"),
                         partial(nn.RNN, nonlinearity="tanh")),
    "rnn_relu": CellSpec(1, partial(RNNLayer, nonlinearity="relu"),
                         partial(nn.RNN, nonlinearity="relu")),
    "lstm": CellSpec(4, LSTMLayer, nn.LSTM),
    "gru": CellSpec(3, GRULayer, nn.GRU),
    "mgu": CellSpec(2, MGULayer, None),
}  # fmt: skip


def get_cell(name: str) -> CellSpec:
    """The registry entry for ``name``; ``ValueError`` (ConfigError) listing valid names."""
    try:
        return CELLS[name]
    except KeyError:
        raise ConfigError(f"unknown cell {name!r}; valid cells: {', '.join(CELLS)}") from None


def layer_builder(name: str, backend: str) -> Callable[[int, int], nn.Module]:
    """(input_size, hidden_size) -> one single-direction, single-layer module of ``backend``.

    The module maps x (B, T, I) to a pair whose first item is the outputs (B, T, H).
    """
    spec = get_cell(name)
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if backend == "scratch":
        return spec.scratch
    if spec.native is None:
        raise ConfigError(
            f"cell {name!r} has no native torch implementation; use backend='scratch'"
        )
    return partial(spec.native, num_layers=1, batch_first=True)
