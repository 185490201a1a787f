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
_sigmoid_backward = torch.ops.aten.sigmoid_backward  # (grad, y) -> grad * y * (1 - y)
_tanh_backward = torch.ops.aten.tanh_backward  # (grad, y) -> grad * (1 - y^2)
_relu_backward = torch.ops.aten.threshold_backward  # (grad, y, 0) -> grad * (y > 0)


def _steps(*tensors: Tensor) -> tuple[tuple[Tensor, ...], ...]:
    """Per-step views of time-major tensors, made once (indexing in the loop costs ~3 us each)."""
    return tuple(t.unbind(0) for t in tensors)


def _project(x: Tensor, w_ih: Tensor, bias: Tensor) -> Tensor:
    """All input projections in one product: x (T, B, I) -> x W_ih^T + bias (T, B, G*H)."""
    return torch.addmm(bias, x.view(-1, x.shape[-1]), w_ih.t()).view(*x.shape[:2], -1)


def _weight_grad(d_pre: Tensor, inputs: Tensor) -> Tensor:
    """Sum over steps and batch of d_pre^T @ inputs: (T, B, K), (T, B, H) -> (K, H)."""
    return d_pre.reshape(-1, d_pre.shape[-1]).t() @ inputs.reshape(-1, inputs.shape[-1])


def _input_grads(
    ctx: FunctionCtx, d_pre: Tensor, x: Tensor, w_ih: Tensor
) -> tuple[Tensor | None, Tensor, Tensor]:
    """Gradients of x, W_ih and the (folded) bias from d pre-activations (T, B, G*H)."""
    d2 = d_pre.view(-1, d_pre.shape[-1])
    dx = (d2 @ w_ih).view(x.shape) if ctx.needs_input_grad[0] else None
    return dx, d2.t() @ x.view(-1, x.shape[-1]), d2.sum(0)


class _ElmanFn(torch.autograd.Function):
    """h_t = act(x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T), act tanh or relu."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        w_ih: Tensor,
        b_ih: Tensor,
        w_hh: Tensor,
        b_hh: Tensor,
        h0: Tensor | None,
        relu: bool,
    ) -> Tensor:
        out = _project(x, w_ih, b_ih + b_hh)  # pre-activations, turned into h_t step by step
        outs, w_t = out.unbind(0), w_hh.t()
        act_ = torch.relu_ if relu else torch.tanh_
        if h0 is not None:
            outs[0].addmm_(h0, w_t)
        act_(outs[0])
        for t in range(1, len(outs)):
            act_(outs[t].addmm_(outs[t - 1], w_t))
        ctx.save_for_backward(x, w_ih, w_hh, out, h0)
        ctx.relu = relu
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, w_ih, w_hh, out, h0 = ctx.saved_tensors
        grad = grad.contiguous()  # time-major: a strided grad slows every step
        d_pre = torch.empty_like(out)
        outs, dps, gs = _steps(out, d_pre, grad)
        dh = gs[-1]
        for t in range(len(gs) - 1, -1, -1):
            if ctx.relu:
                _relu_backward.grad_input(dh, outs[t], 0, grad_input=dps[t])
            else:
                _tanh_backward.grad_input(dh, outs[t], grad_input=dps[t])
            if t:
                dh = torch.addmm(gs[t - 1], dps[t], w_hh)
        dx, dw_ih, db = _input_grads(ctx, d_pre, x, w_ih)
        dw_hh = _weight_grad(d_pre[1:], out[:-1])
        dh0 = None
        if h0 is not None:  # step 0's recurrent term h0 W_hh^T
            dw_hh.addmm_(dps[0].t(), h0)
            dh0 = dps[0] @ w_hh if ctx.needs_input_grad[5] else None
        return dx, dw_ih, db, dw_hh, db, dh0, None


class _LSTMFn(torch.autograd.Function):
    """Hochreiter & Schmidhuber (1997) with forget gate, torch's gate order i, f, g, o.

    Returns (h_t, c_t), both (T, B, H): the cell states are an output so that a final c can be
    read at each sequence's length and carried to the next chunk with its gradient.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        w_ih: Tensor,
        b_ih: Tensor,
        w_hh: Tensor,
        b_hh: Tensor,
        h0: Tensor | None,
        c0: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        # an unused c (the common case) gets no gradient buffer of zeros: backward sees None
        ctx.set_materialize_grads(False)
        gates = _project(x, w_ih, b_ih + b_hh)  # (T, B, 4H), activated in place step by step
        t_len, b, four_h = gates.shape
        h = four_h // 4
        c, tc, out = (gates.new_empty(t_len, b, h) for _ in range(3))  # c_t, tanh(c_t), h_t
        gts, cs, tcs, outs = _steps(gates, c, tc, out)
        ii, ff, gg, oo = _steps(*gates.split(h, -1))
        w_t, h_prev = w_hh.t(), gates.new_zeros(b, h)
        c_prev = gates.new_zeros(b, h) if c0 is None else c0
        if h0 is not None:  # the loop adds the recurrent term from step 1 on
            gts[0].addmm_(h0, w_t)
        for t in range(t_len):
            if t:
                gts[t].addmm_(h_prev, w_t)
            gg[t].mul_(2)  # tanh(a) = 2 sigmoid(2a) - 1: one sigmoid call for all four blocks
            gts[t].sigmoid_()
            gg[t].mul_(2).sub_(1)
            c_prev = torch.mul(ff[t], c_prev, out=cs[t]).addcmul_(ii[t], gg[t])
            h_prev = torch.mul(oo[t], torch.tanh(c_prev, out=tcs[t]), out=outs[t])
        ctx.save_for_backward(x, w_ih, w_hh, gates, c, tc, out, h0, c0)
        return out, c

    @staticmethod
    @once_differentiable
    def backward(
        ctx: FunctionCtx, grad: Tensor | None, grad_c: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        x, w_ih, w_hh, gates, c, tc, out, h0, c0 = ctx.saved_tensors
        grad = torch.zeros_like(out) if grad is None else grad.contiguous()
        t_len, b, h = out.shape
        i, f, g, o = gates.split(h, -1)
        # d pre-activation per unit of carried gradient, all steps at once; per unit of dc:
        # i <- g i (1-i), f <- c_{t-1} f (1-f), g <- i (1-g^2); per unit of dh: o <- tanh(c)
        # o (1-o); and dc <- dh o (1 - tanh(c)^2). The loop scales them in place into d_pre.
        d_pre = torch.empty_like(gates)
        c_i, c_f, c_g, c_o = d_pre.split(h, -1)
        _sigmoid_backward.grad_input(g, i, grad_input=c_i)
        if c0 is None:
            c_f[0].zero_()
        else:
            _sigmoid_backward.grad_input(c0, f[0], grad_input=c_f[0])
        _sigmoid_backward.grad_input(c[:-1], f[1:], grad_input=c_f[1:])
        _tanh_backward.grad_input(i, g, grad_input=c_g)
        _sigmoid_backward.grad_input(tc, o, grad_input=c_o)
        q = _tanh_backward(o, tc)
        d_ifg, d_o = _steps(d_pre.view(t_len, b, 4, h)[:, :, :3], c_o)
        qs, fs, gs, dps = _steps(q, f, grad, d_pre)
        gcs = None if grad_c is None else grad_c.contiguous().unbind(0)  # direct dL/dc_t
        dh, dc = gs[-1], torch.zeros_like(q[0])
        for t in range(t_len - 1, -1, -1):
            dc.addcmul_(dh, qs[t])  # dL/dc_t
            if gcs is not None:
                dc.add_(gcs[t])
            d_ifg[t].mul_(dc.unsqueeze(1))
            d_o[t].mul_(dh)
            if t:
                dc.mul_(fs[t])
                dh = torch.addmm(gs[t - 1], dps[t], w_hh)
        dx, dw_ih, db = _input_grads(ctx, d_pre, x, w_ih)
        dw_hh = _weight_grad(d_pre[1:], out[:-1])
        dh0 = dc0 = None
        if h0 is not None:  # step 0's recurrent term h0 W_hh^T
            dw_hh.addmm_(dps[0].t(), h0)
            dh0 = dps[0] @ w_hh if ctx.needs_input_grad[5] else None
        if c0 is not None and ctx.needs_input_grad[6]:
            dc0 = dc.mul_(fs[0])  # c_0 = f_0 c0 + i_0 g_0
        return dx, dw_ih, db, dw_hh, db, dh0, dc0


class _GRUFn(torch.autograd.Function):
    """Cho et al. (2014), torch's form: n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        w_ih: Tensor,
        b_ih: Tensor,
        w_hh: Tensor,
        b_hh: Tensor,
        h0: Tensor | None,
    ) -> Tensor:
        gates = _project(x, w_ih, b_ih)  # (T, B, 3H), activated to r, z, n in place
        t_len, b, three_h = gates.shape
        h = three_h // 3
        gh_n, out = gates.new_empty(t_len, b, h), gates.new_empty(t_len, b, h)  # W_hn h + b_hn
        gh = gates.new_empty(b, three_h)  # h_{t-1} W_hh^T + b_hh of the current step
        gh_rz, gh_nt = gh[:, : 2 * h], gh[:, 2 * h :]
        rz, rs, zs, ns, ghn, outs = _steps(gates[..., : 2 * h], *gates.split(h, -1), gh_n, out)
        w_t = w_hh.t()
        h_prev = gates.new_zeros(b, h) if h0 is None else h0
        for t in range(t_len):
            torch.addmm(b_hh, h_prev, w_t, out=gh)
            rz[t].add_(gh_rz).sigmoid_()
            ns[t].addcmul_(rs[t], ghn[t].copy_(gh_nt)).tanh_()
            h_prev = torch.lerp(ns[t], h_prev, zs[t], out=outs[t])  # (1 - z) n + z h
        ctx.save_for_backward(x, w_ih, w_hh, gates, gh_n, out, h0)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, w_ih, w_hh, gates, gh_n, out, h0 = ctx.saved_tensors
        grad = grad.contiguous()
        t_len, b, h = out.shape
        r, z, n = gates.split(h, -1)
        # per unit of dh: pre_n <- (1-z)(1-n^2), pre_z <- (h_{t-1} - n) z (1-z); per unit of
        # d pre_n: pre_r <- (W_hn h + b_hn) r (1-r), (W_hn h + b_hn) <- r. The loop scales
        # them in place into d_gh, the gradient of h_{t-1} W_hh^T + b_hh (blocks r, z, n).
        a_n = _tanh_backward.grad_input(1 - z, n, grad_input=torch.empty_like(n))
        d_gh = torch.empty(t_len, b, 3, h, dtype=out.dtype, device=out.device)
        a_r, a_z, a_hn = d_gh.unbind(2)
        _sigmoid_backward.grad_input(gh_n, r, grad_input=a_r)
        if h0 is None:
            a_z[0] = n[0]
        else:
            torch.sub(n[0], h0, out=a_z[0])
        torch.sub(n[1:], out[:-1], out=a_z[1:])  # n_t - h_{t-1}
        _sigmoid_backward.grad_input(a_z, z, grad_input=a_z).neg_()
        a_hn.copy_(r)
        d_n = torch.empty_like(out)  # d pre_n, the input-side gradient of the n block
        d_gh3 = d_gh.view(t_len, b, 3 * h)
        ans, zs, gs, dns, d_rn, d_z, dgs = _steps(a_n, z, grad, d_n, d_gh[:, :, ::2], a_z, d_gh3)
        dh = gs[-1]
        for t in range(t_len - 1, -1, -1):
            torch.mul(dh, ans[t], out=dns[t])
            d_rn[t].mul_(dns[t].unsqueeze(1))
            d_z[t].mul_(dh)
            if t:
                dh = torch.addcmul(gs[t - 1], dh, zs[t]).addmm_(dgs[t], w_hh)
        # input side: d pre = [d_gh r, d_gh z, d_n]
        x2, d_rz, d_n2 = x.view(-1, x.shape[-1]), d_gh3.view(-1, 3 * h)[:, : 2 * h], d_n.view(-1, h)
        dx = None
        if ctx.needs_input_grad[0]:
            dx = torch.addmm(d_n2 @ w_ih[2 * h :], d_rz, w_ih[: 2 * h]).view(x.shape)
        dw_ih = torch.cat([d_rz.t() @ x2, d_n2.t() @ x2])
        db_hh = d_gh3.sum((0, 1))
        db_ih = torch.cat([db_hh[: 2 * h], d_n2.sum(0)])
        dw_hh = _weight_grad(d_gh3[1:], out[:-1])
        dh0 = None
        if h0 is not None:  # step 0's recurrent input h0: through W_hh and through z
            dw_hh.addmm_(dgs[0].t(), h0)
            if ctx.needs_input_grad[5]:
                dh0 = torch.mul(dh, zs[0]).addmm_(dgs[0], w_hh)
        return dx, dw_ih, db_ih, dw_hh, db_hh, dh0


class _MGUFn(torch.autograd.Function):
    """Minimal gated unit; pre-activations [W_f x + b_f, W_h x + b_h] (both biases folded)."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        w_ih: Tensor,
        b_ih: Tensor,
        w_hh: Tensor,
        b_hh: Tensor,
        h0: Tensor | None,
    ) -> Tensor:
        gates = _project(x, w_ih, b_ih + b_hh)  # (T, B, 2H), activated to f, h~ in place
        t_len, b, two_h = gates.shape
        h = two_h // 2
        fh, out = gates.new_empty(t_len, b, h), gates.new_empty(t_len, b, h)  # f * h_{t-1}, h_t
        fs, cs, fhs, outs = _steps(*gates.split(h, -1), fh, out)
        wf_t, uh_t = w_hh[:h].t(), w_hh[h:].t()
        h_prev = gates.new_zeros(b, h) if h0 is None else h0
        for t in range(t_len):
            fs[t].addmm_(h_prev, wf_t).sigmoid_()
            cs[t].addmm_(torch.mul(fs[t], h_prev, out=fhs[t]), uh_t).tanh_()
            h_prev = torch.lerp(h_prev, cs[t], fs[t], out=outs[t])  # (1 - f) h + f h~
        ctx.save_for_backward(x, w_ih, w_hh, gates, fh, out, h0)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, w_ih, w_hh, gates, fh, out, h0 = ctx.saved_tensors
        grad = grad.contiguous()
        t_len, b, h = out.shape
        f, cand = gates.split(h, -1)
        a_h = _tanh_backward(f, cand)  # per unit of dh: pre_h~ <- f (1 - h~^2)
        a_f = torch.empty_like(a_h)  # per unit of dh: f <- h~ - h_{t-1}
        if h0 is None:
            a_f[0] = cand[0]
        else:
            torch.sub(cand[0], h0, out=a_f[0])
        torch.sub(cand[1:], out[:-1], out=a_f[1:])
        keep = 1 - f  # per unit of dh: h_{t-1} <- 1 - f
        d_pre = torch.empty_like(gates)
        dfs, dhs, fs, ahs, afs, keeps, outs, gs = _steps(
            *d_pre.split(h, -1), f, a_h, a_f, keep, out, grad
        )
        wf, uh = w_hh[:h], w_hh[h:]
        dh = gs[-1]
        for t in range(t_len - 1, -1, -1):
            torch.mul(dh, ahs[t], out=dhs[t])
            d_fh = dhs[t] @ uh  # gradient reaching f * h_{t-1}
            df = torch.mul(dh, afs[t])
            if t:
                df.addcmul_(d_fh, outs[t - 1])
            elif h0 is not None:
                df.addcmul_(d_fh, h0)
            _sigmoid_backward.grad_input(df, fs[t], grad_input=dfs[t])
            if t:
                dh = torch.addcmul(gs[t - 1], dh, keeps[t]).addcmul_(d_fh, fs[t])
                dh.addmm_(dfs[t], wf)
        d_wf = _weight_grad(d_pre[1:, :, :h], out[:-1])
        dh0 = None
        if h0 is not None:  # step 0's recurrent input h0: through W_f, 1 - f and f * h0
            d_wf.addmm_(dfs[0].t(), h0)
            if ctx.needs_input_grad[5]:
                dh0 = torch.mul(dh, keeps[0]).addcmul_(d_fh, fs[0]).addmm_(dfs[0], wf)
        d_w = torch.cat([d_wf, _weight_grad(d_pre[..., h:], fh)])  # fh holds f_0 * h0 at step 0
        dx, dw_ih, db = _input_grads(ctx, d_pre, x, w_ih)
        return dx, dw_ih, db, d_w, db, dh0


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

    gates, _fn = 1, _ElmanFn

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

    gates, _fn, _state_parts = 4, _LSTMFn, 2


class GRULayer(_ScratchLayer):
    """GRU (Cho et al., 2014), torch's r,z,n form.

    n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h.
    """

    gates, _fn = 3, _GRUFn


class MGULayer(_ScratchLayer):
    """Minimal gated unit (Zhou et al., 2016, "Minimal gated unit for recurrent neural networks")
    in the form the reference studies call pmGRU (Heck & Salem, 2017, "Simplified minimal gated
    unit variations for recurrent neural networks"):

        f = sigmoid(W_f [h, x]);  h~ = tanh(W_h x + U_h (f * h));  h' = (1 - f) * h + f * h~.

    Two gate blocks (G=2): rows [:H] of ``weight_ih_l0`` / ``weight_hh_l0`` are W_f's x and h
    parts, rows [H:] are W_h and U_h; each block has ``bias_ih`` + ``bias_hh``.
    """

    gates, _fn = 2, _MGUFn


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
