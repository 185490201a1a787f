"""Recurrent cells written from scratch, and the registry that maps a cell name to its layers.

A scratch layer runs one direction of one layer over a padded, time-major batch:

* the input projections of all T steps are ONE matrix product, ``x @ W_ih^T`` (autograd);
* only the recurrence loops in Python, inside an ``autograd.Function`` whose backward pass is
  written by hand (BPTT): per step one ``addmm`` with ``W_hh`` plus a few elementwise ops into
  preallocated buffers; everything that does not depend on the carried gradient (gate
  derivatives) is computed for all steps at once, and the ``W_hh`` gradient is one matrix
  product over all steps. This avoids recording ~10 autograd nodes per step.

Parameters have torch's names, shapes and gate order (``weight_ih_l0`` (G*H, I),
``weight_hh_l0`` (G*H, H), ``bias_ih_l0``, ``bias_hh_l0``; LSTM i,f,g,o; GRU r,z,n), so weights
copy 1:1 from ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``. The initial state is zero. Outputs at padded
positions are computed like any other step; the stack reads each sequence's state at its own
length, so they never reach a result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

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


def _prev(seq: Tensor) -> Tensor:
    """States entering each step: (T, B, H) -> (T, B, H) = [0, seq[0], ..., seq[T-2]]."""
    return torch.cat([seq.new_zeros((1, *seq.shape[1:])), seq[:-1]])


def _weight_grad(d_pre: Tensor, inputs: Tensor) -> Tensor:
    """Sum over steps and batch of d_pre^T @ inputs: (T, B, K), (T, B, H) -> (K, H)."""
    return d_pre.reshape(-1, d_pre.shape[-1]).t() @ inputs.reshape(-1, inputs.shape[-1])


class _ElmanFn(torch.autograd.Function):
    """h_t = act(gx_t + h_{t-1} W_hh^T); gx (T, B, H) already holds both biases."""

    @staticmethod
    def forward(ctx: FunctionCtx, gx: Tensor, w_hh: Tensor, relu: bool) -> Tensor:
        out = torch.empty_like(gx)  # (T, B, H)
        gxs, outs, w_t = gx.unbind(0), out.unbind(0), w_hh.t()
        act_ = torch.relu_ if relu else torch.tanh_
        act_(outs[0].copy_(gxs[0]))
        for t in range(1, len(outs)):
            act_(torch.addmm(gxs[t], outs[t - 1], w_t, out=outs[t]))
        ctx.save_for_backward(out, w_hh)
        ctx.relu = relu
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        out, w_hh = ctx.saved_tensors
        deriv = (out > 0).to(out.dtype) if ctx.relu else 1 - out * out  # d act / d pre, (T, B, H)
        d_pre = torch.empty_like(out)
        ds, dps, gs = deriv.unbind(0), d_pre.unbind(0), grad.unbind(0)
        dh = gs[-1]
        for t in range(len(gs) - 1, 0, -1):
            torch.mul(dh, ds[t], out=dps[t])
            dh = torch.addmm(gs[t - 1], dps[t], w_hh)
        torch.mul(dh, ds[0], out=dps[0])
        return d_pre, _weight_grad(d_pre[1:], out[:-1]), None


class _LSTMFn(torch.autograd.Function):
    """Hochreiter & Schmidhuber (1997) with forget gate; gx (T, B, 4H) holds both biases."""

    @staticmethod
    def forward(ctx: FunctionCtx, gx: Tensor, w_hh: Tensor) -> Tensor:
        t_len, b, four_h = gx.shape
        h = four_h // 4
        gates = torch.empty_like(gx)  # activated i, f, g, o
        c, tc, out = (gx.new_empty(t_len, b, h) for _ in range(3))
        i_f, g_, o_ = gates[..., : 2 * h], gates[..., 2 * h : 3 * h], gates[..., 3 * h :]
        ii, ff = gates[..., :h].unbind(0), gates[..., h : 2 * h].unbind(0)
        gxs, gts, ifs, gs, os = (v.unbind(0) for v in (gx, gates, i_f, g_, o_))
        cs, tcs, outs, w_t = c.unbind(0), tc.unbind(0), out.unbind(0), w_hh.t()
        for t in range(t_len):
            if t:
                torch.addmm(gxs[t], outs[t - 1], w_t, out=gts[t])
            else:
                gts[0].copy_(gxs[0])
            ifs[t].sigmoid_()
            gs[t].tanh_()
            os[t].sigmoid_()
            if t:
                torch.mul(ff[t], cs[t - 1], out=cs[t]).addcmul_(ii[t], gs[t])
            else:
                torch.mul(ii[0], gs[0], out=cs[0])
            torch.mul(os[t], torch.tanh(cs[t], out=tcs[t]), out=outs[t])
        ctx.save_for_backward(gates, c, tc, out, w_hh)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor, Tensor]:
        gates, c, tc, out, w_hh = ctx.saved_tensors
        t_len, b, h = out.shape
        i, f, g, o = gates.chunk(4, dim=-1)  # each (T, B, H)
        # d pre-activation per unit of carried gradient, all steps at once
        q = o * (1 - tc * tc)  # dh -> dc
        p = torch.cat([g * i * (1 - i), _prev(c) * f * (1 - f), i * (1 - g * g)], -1)
        p_o = tc * o * (1 - o)  # dh -> d pre_o
        d_pre = torch.empty_like(gates)
        d4 = d_pre.view(t_len, b, 4, h)
        d_ifg, d_o = d4[:, :, :3].unbind(0), d4[:, :, 3].unbind(0)
        ps, pos, qs = p.view(t_len, b, 3, h).unbind(0), p_o.unbind(0), q.unbind(0)
        fs, gs, dps = f.unbind(0), grad.unbind(0), d_pre.unbind(0)
        dh, dc = gs[-1], torch.zeros_like(gs[-1])
        for t in range(t_len - 1, -1, -1):
            dc = torch.addcmul(dc, dh, qs[t])
            torch.mul(ps[t], dc.unsqueeze(1), out=d_ifg[t])
            torch.mul(dh, pos[t], out=d_o[t])
            if t:
                dc = dc * fs[t]
                dh = torch.addmm(gs[t - 1], dps[t], w_hh)
        return d_pre, _weight_grad(d_pre[1:], out[:-1])


class _GRUFn(torch.autograd.Function):
    """Cho et al. (2014), torch's form: n = tanh(gx_n + r * (W_hn h + b_hn)); gx holds b_ih."""

    @staticmethod
    def forward(ctx: FunctionCtx, gx: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
        t_len, b, three_h = gx.shape
        h = three_h // 3
        gh = torch.empty_like(gx)  # h_{t-1} W_hh^T + b_hh, (T, B, 3H)
        rz = gx.new_empty(t_len, b, 2 * h)  # activated r, z
        n, out = gx.new_empty(t_len, b, h), gx.new_empty(t_len, b, h)
        gx_rz, gx_n = gx[..., : 2 * h].unbind(0), gx[..., 2 * h :].unbind(0)
        ghs, gh_rz, gh_n = gh.unbind(0), gh[..., : 2 * h].unbind(0), gh[..., 2 * h :].unbind(0)
        rzs, rs, zs = rz.unbind(0), rz[..., :h].unbind(0), rz[..., h:].unbind(0)
        ns, outs, w_t = n.unbind(0), out.unbind(0), w_hh.t()
        h_prev = gx.new_zeros(b, h)
        for t in range(t_len):
            torch.addmm(b_hh, h_prev, w_t, out=ghs[t])
            torch.add(gx_rz[t], gh_rz[t], out=rzs[t]).sigmoid_()
            torch.addcmul(gx_n[t], rs[t], gh_n[t], out=ns[t]).tanh_()
            h_prev = torch.lerp(ns[t], h_prev, zs[t], out=outs[t])  # (1 - z) n + z h
        ctx.save_for_backward(rz, n, gh[..., 2 * h :], out, w_hh)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        rz, n, gh_n, out, w_hh = ctx.saved_tensors
        t_len, b, h = out.shape
        r, z = rz.chunk(2, dim=-1)
        h_prev = _prev(out)
        a_n = (1 - z) * (1 - n * n)  # dh -> d pre_n
        a_r = gh_n * r * (1 - r)  # d pre_n -> d pre_r
        a_z = (h_prev - n) * z * (1 - z)  # dh -> d pre_z
        d_gh = torch.empty(t_len, b, 3 * h, dtype=out.dtype, device=out.device)
        d_n = torch.empty_like(out)  # d pre_n, the input-side gradient of the n block
        dgs, dns = d_gh.unbind(0), d_n.unbind(0)
        dr, dz, dhn = (d_gh[..., k * h : (k + 1) * h].unbind(0) for k in range(3))
        ans, ars, azs, rs, zs = (v.unbind(0) for v in (a_n, a_r, a_z, r, z))
        gs = grad.unbind(0)
        dh = gs[-1]
        for t in range(t_len - 1, -1, -1):
            torch.mul(dh, ans[t], out=dns[t])
            torch.mul(dns[t], ars[t], out=dr[t])
            torch.mul(dh, azs[t], out=dz[t])
            torch.mul(dns[t], rs[t], out=dhn[t])
            if t:
                dh = torch.addcmul(gs[t - 1], dh, zs[t]).addmm_(dgs[t], w_hh)
        d_gx = torch.cat([d_gh[..., : 2 * h], d_n], -1)
        return d_gx, _weight_grad(d_gh[1:], out[:-1]), d_gh.sum((0, 1))


class _MGUFn(torch.autograd.Function):
    """Minimal gated unit; gx (T, B, 2H) = [W_f x + b_f, W_h x + b_h] (both biases folded)."""

    @staticmethod
    def forward(ctx: FunctionCtx, gx: Tensor, w_hh: Tensor) -> Tensor:
        t_len, b, two_h = gx.shape
        h = two_h // 2
        f, fh, cand, out = (gx.new_empty(t_len, b, h) for _ in range(4))
        gx_f, gx_h = gx[..., :h].unbind(0), gx[..., h:].unbind(0)
        fs, fhs, cs, outs = (v.unbind(0) for v in (f, fh, cand, out))
        wf_t, uh_t = w_hh[:h].t(), w_hh[h:].t()
        h_prev = gx.new_zeros(b, h)
        for t in range(t_len):
            torch.addmm(gx_f[t], h_prev, wf_t, out=fs[t]).sigmoid_()
            torch.mul(fs[t], h_prev, out=fhs[t])
            torch.addmm(gx_h[t], fhs[t], uh_t, out=cs[t]).tanh_()
            h_prev = torch.lerp(h_prev, cs[t], fs[t], out=outs[t])  # (1 - f) h + f h~
        ctx.save_for_backward(f, fh, cand, out, w_hh)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor, Tensor]:
        f, fh, cand, out, w_hh = ctx.saved_tensors
        t_len, b, h = out.shape
        h_prev = _prev(out)
        a_h = f * (1 - cand * cand)  # dh -> d pre_h~
        a_fd = cand - h_prev  # dh -> df (direct path)
        a_f = f * (1 - f)  # df -> d pre_f
        keep = 1 - f  # dh -> dh_prev (direct path)
        d_pre = torch.empty(t_len, b, 2 * h, dtype=out.dtype, device=out.device)
        dfs, dhs = d_pre[..., :h].unbind(0), d_pre[..., h:].unbind(0)
        ahs, afds, afs, keeps, fs, hps = (v.unbind(0) for v in (a_h, a_fd, a_f, keep, f, h_prev))
        wf, uh, gs = w_hh[:h], w_hh[h:], grad.unbind(0)
        dh = gs[-1]
        for t in range(t_len - 1, -1, -1):
            torch.mul(dh, ahs[t], out=dhs[t])
            d_fh = dhs[t] @ uh  # gradient reaching f * h_{t-1}
            df = torch.mul(dh, afds[t]).addcmul_(d_fh, hps[t])
            torch.mul(df, afs[t], out=dfs[t])
            if t:
                dh = torch.addcmul(gs[t - 1], dh, keeps[t]).addcmul_(d_fh, fs[t])
                dh.addmm_(dfs[t], wf)
        d_w = torch.cat(
            [_weight_grad(d_pre[1:, :, :h], out[:-1]), _weight_grad(d_pre[..., h:], fh)]
        )
        return d_pre, d_w


class _ScratchLayer(nn.Module):
    """One direction of one layer; ``forward(x (B, T, I)) -> (outputs (B, T, H), None)``."""

    gates: int = 1

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

    def _project(self, x: Tensor, bias: Tensor) -> Tensor:
        """All input projections at once: (B, T, I) -> (T, B, G*H)."""
        xt = x.transpose(0, 1)  # (T, B, I); contiguous when x came from a scratch layer
        flat = xt.reshape(-1, xt.shape[-1])
        return torch.addmm(bias, flat, self.weight_ih_l0.t()).view(*xt.shape[:2], -1)

    def _recur(self, x: Tensor) -> Tensor:  # (B, T, I) -> (T, B, H)
        raise NotImplementedError

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        """x (B, T, I) -> (outputs (B, T, H), None); the stack reads final states itself."""
        return self._recur(x).transpose(0, 1), None

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNNLayer(_ScratchLayer):
    """Elman (1990) network: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act tanh or relu."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size)

    def _recur(self, x: Tensor) -> Tensor:
        gx = self._project(x, self.bias_ih_l0 + self.bias_hh_l0)
        return _ElmanFn.apply(gx, self.weight_hh_l0, self.nonlinearity == "relu")

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nonlinearity={self.nonlinearity!r}"


class LSTMLayer(_ScratchLayer):
    """LSTM (Hochreiter & Schmidhuber, 1997; forget gate of Gers et al., 2000), torch's i,f,g,o.

    c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t).
    """

    gates = 4

    def _recur(self, x: Tensor) -> Tensor:
        gx = self._project(x, self.bias_ih_l0 + self.bias_hh_l0)
        return _LSTMFn.apply(gx, self.weight_hh_l0)


class GRULayer(_ScratchLayer):
    """GRU (Cho et al., 2014), torch's r,z,n form.

    n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h.
    """

    gates = 3

    def _recur(self, x: Tensor) -> Tensor:
        gx = self._project(x, self.bias_ih_l0)
        return _GRUFn.apply(gx, self.weight_hh_l0, self.bias_hh_l0)


class MGULayer(_ScratchLayer):
    """Minimal gated unit (Zhou et al., 2016, "Minimal gated unit for recurrent neural networks")
    in the form the reference studies call pmGRU (Heck & Salem, 2017, "Simplified minimal gated
    unit variations for recurrent neural networks"):

        f = sigmoid(W_f [h, x]);  h~ = tanh(W_h x + U_h (f * h));  h' = (1 - f) * h + f * h~.

    Two gate blocks (G=2): rows [:H] of ``weight_ih_l0`` / ``weight_hh_l0`` are W_f's x and h
    parts, rows [H:] are W_h and U_h; each block has ``bias_ih`` + ``bias_hh``.
    """

    gates = 2

    def _recur(self, x: Tensor) -> Tensor:
        gx = self._project(x, self.bias_ih_l0 + self.bias_hh_l0)
        return _MGUFn.apply(gx, self.weight_hh_l0)


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
