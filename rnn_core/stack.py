"""Recurrent stacks over padded, variable-length batches, with recurrent state in and out.

A padded batch gives, per sequence, exactly what that sequence gives alone: the forward
direction reads each sequence's last valid state, the backward direction starts at each
sequence's own last token (the sequence is reversed within its length, not across padding).
On CPU this padded path is used instead of ``pack_padded_sequence``, which measured 6-19x
slower per token for the backward pass.

Recurrent state uses torch's layout: h (num_layers * D, B, H), for the LSTM a pair (h, c),
index layer * D + direction (D = 2 when bidirectional), as ``nn.LSTM`` / ``nn.GRU`` take and
return it, and again every sequence gets what it would get alone:

* initial state: the forward direction starts from it at step 0, the backward direction at
  each sequence's own last valid step; None means zeros and runs the zero-state code;
* final state: the forward direction's after each sequence's last valid step, the backward
  direction's after step 0. A language model trained by truncated BPTT passes one chunk's
  final state (detached to stop backpropagation at the chunk boundary) as the next chunk's
  initial state.

The final state is read from the per-step outputs (and the scratch LSTM's per-step cell
states): at step T - 1 when every length is T, else gathered at each sequence's length. Torch's
h_n of a padded run includes the padding steps, and neither the fused stack's lower layers nor
torch's LSTM expose per-step states to read instead, so only when the final state is asked for
with ragged lengths do the fused native stack and the native bidirectional LSTM run packed.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnn_core.cells import get_cell, layer_builder

__all__ = ["RecurrentStack", "reverse_within_length", "last_valid"]


def reverse_within_length(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of ``x`` (B, T, F) within its own length; padding stays in place."""
    b, t = x.shape[:2]
    steps = torch.arange(t, device=x.device).expand(b, t)
    lens = lengths.to(x.device).unsqueeze(1)
    idx = torch.where(steps < lens, lens - 1 - steps, steps)  # (B, T)
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


State = Tensor | tuple[Tensor, Tensor]  # h, or (h, c) for the LSTM


def last_valid(out: Tensor, lengths: Tensor) -> Tensor:
    """Output at each sequence's last valid step: (B, T, F) -> (B, F)."""
    idx = (lengths.to(out.device) - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, out.shape[-1])
    return out.gather(1, idx).squeeze(1)


class RecurrentStack(nn.Module):
    """Multi-layer, optionally bidirectional recurrent stack.

    Args:
        cell: registry name (see ``rnn_core.cells.CELLS``).
        input_size: features per step.
        hidden_size: hidden units per direction.
        num_layers: stacked layers.
        bidirectional: add a backward direction per layer.
        dropout: dropout between layers (not after the last).
        backend: ``"native"`` (torch ``nn.RNN/LSTM/GRU``) or ``"scratch"`` (``rnn_core.cells``
            layers, one per layer and direction, with dropout between layers as torch does).
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        backend: str = "native",
    ) -> None:
        super().__init__()
        build = layer_builder(cell, backend)  # validates cell and backend
        if num_layers < 1 or hidden_size < 1 or input_size < 1:
            raise ValueError("num_layers, hidden_size and input_size must be at least 1")
        self.cell, self.bidirectional, self.num_layers = cell, bidirectional, num_layers
        self.hidden_size, self.scratch = hidden_size, backend == "scratch"
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.fused = backend == "native" and not bidirectional
        if self.fused:
            # one fused multi-layer call: the fastest native path
            self.rnn = get_cell(cell).native(
                input_size,
                hidden_size,
                num_layers,
                batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0,
            )
        else:
            self.fwd = nn.ModuleList()
            self.bwd = nn.ModuleList()
            for layer in range(num_layers):
                size_in = input_size if layer == 0 else self.output_size
                self.fwd.append(build(size_in, hidden_size))
                if bidirectional:
                    self.bwd.append(build(size_in, hidden_size))
            self.drop = nn.Dropout(dropout)

    # cuDNN runs packed sequences fast; on CPU packing measured 6-19x slower per token for the
    # backward pass than padded batches, so the padded path is used there.
    packed_on_cuda = True

    def forward(
        self,
        x: Tensor,
        lengths: Tensor,
        state: State | None = None,
        return_state: bool = False,
    ) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, State]:
        """Run the stack.

        Args:
            x: (B, T, input_size), right-padded.
            lengths: (B,) valid steps per sequence, each >= 1.
            state: initial state, None for zeros; for ``lstm`` a pair (h0, c0), otherwise h0,
                each (num_layers * D, B, H) with index layer * D + direction, as in
                ``nn.LSTM`` / ``nn.GRU``. The backward direction starts from it at each
                sequence's last valid step.
            return_state: also return the final state.

        Returns:
            outputs (B, T, D*H) of the top layer (padding positions are undefined) and the
            last output (B, D*H): forward at each sequence's last token, backward at its first;
            with ``return_state``, also the final state in the layout of ``state``: every
            layer's forward direction after each sequence's last valid step, its backward
            direction after step 0.

        Raises:
            ValueError: the state's type or shape does not match the stack and batch.
        """
        if state is not None:
            state = self._check_state(state, x.shape[0])
        ragged = return_state and bool((lengths < x.shape[1]).any())
        if self.fused:
            if ragged or (x.is_cuda and self.packed_on_cuda):
                out, h_n = _run_packed(self.rnn, x, lengths, state)
            else:
                out, h_n = self.rnn(x, state)
            last = last_valid(out, lengths)
            return (out, last, h_n) if return_state else (out, last)
        h, finals, d = x, [], 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            if layer:
                h = self.drop(h)
            f, final = self._run(self.fwd[layer], h, lengths, state, layer * d, return_state,
                                 ragged)
            finals.append(final)
            if self.bidirectional:
                b_rev, final = self._run(self.bwd[layer], reverse_within_length(h, lengths),
                                         lengths, state, layer * d + 1, return_state, ragged)
                finals.append(final)
                b = reverse_within_length(b_rev, lengths)
                h = torch.cat([f, b], dim=-1)
            else:
                h = f
        last = last_valid(f, lengths)
        if self.bidirectional:
            last = torch.cat([last, b[:, 0]], dim=-1)
        if not return_state:
            return h, last
        if self.cell == "lstm":
            return h, last, (torch.stack([s[0] for s in finals]),
                             torch.stack([s[1] for s in finals]))
        return h, last, torch.stack(finals)

    def _check_state(self, state: State, batch: int) -> State:
        """``state`` as a tensor or a tuple of two; ValueError unless its layout fits."""
        d = 2 if self.bidirectional else 1
        expected = (self.num_layers * d, batch, self.hidden_size)
        lstm = self.cell == "lstm"
        if lstm:
            ok = isinstance(state, (tuple, list)) and len(state) == 2
            parts = tuple(state) if ok else ()
        else:
            ok, parts = isinstance(state, Tensor), (state,)
        ok = ok and all(isinstance(p, Tensor) and tuple(p.shape) == expected for p in parts)
        if not ok:
            kind = "a pair (h0, c0) of tensors" if lstm else "a tensor h0"
            raise ValueError(
                f"state of this {self.num_layers}-layer {self.cell} stack (D={d}) must be "
                f"{kind} of shape {expected} (num_layers * D, batch, hidden_size), "
                f"not {_describe(state)}"
            )
        return parts if lstm else state

    def _run(
        self,
        module: nn.Module,
        x: Tensor,
        lengths: Tensor,
        state: State | None,
        k: int,
        return_state: bool,
        ragged: bool,
    ) -> tuple[Tensor, State | None]:
        """One direction of one layer over x (B, T, F), from layer-direction ``k`` of ``state``.

        Returns the outputs (B, T, H) and, with ``return_state``, the final state (each (B, H)),
        read at each sequence's length (a backward direction's input comes reversed within
        length, so its final state is there too).
        """
        lstm = self.cell == "lstm"
        init = None
        if state is not None:
            init = (state[0][k], state[1][k]) if lstm else state[k]
        if self.scratch:
            out, cells = module(x, init)
            if not return_state:
                return out, None
            h_n = last_valid(out, lengths) if ragged else out[:, -1]
            if cells is None:
                return out, h_n
            return out, (h_n, last_valid(cells, lengths) if ragged else cells[:, -1])
        # a single-layer native module takes and returns (1, B, H) states
        if init is not None:
            init = (init[0][None], init[1][None]) if lstm else init[None]
        if ragged and lstm:  # torch gives no per-step c: its final c needs a packed run
            out, (h_n, c_n) = _run_packed(module, x, lengths, init)
            return out, (h_n[0], c_n[0])
        out, h_n = module(x, init)
        if not return_state:
            return out, None
        if ragged:
            return out, last_valid(out, lengths)
        return out, (h_n[0][0], h_n[1][0]) if lstm else h_n[0]


def _run_packed(
    rnn: nn.RNNBase, x: Tensor, lengths: Tensor, state: State | None
) -> tuple[Tensor, State]:
    """Packed run of a native module over x (B, T, F): outputs (B, T, D*H), zero at padding,
    and h_n (or (h_n, c_n)) at each sequence's own length."""
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, h_n = rnn(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, h_n


def _describe(state: object) -> str:
    """Shapes of a state for an error message: (2, 4, 3), or a pair of them."""
    if isinstance(state, Tensor):
        return str(tuple(state.shape))
    if isinstance(state, (tuple, list)):
        return f"a {type(state).__name__} of {len(state)} ({', '.join(map(_describe, state))})"
    return type(state).__name__
