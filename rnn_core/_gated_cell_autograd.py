"""The hand-written autograd of the scratch cells, part 2: the gated cells' Functions (LSTM,
GRU, MGU), each a forward loop of in-place steps and a backward written by hand.

Separate from ``rnn_core._cell_autograd`` (the shared helpers and the Elman Function) because
the three gated Functions alone fill a file; ``rnn_core.cells`` wraps them in its layers.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from rnn_core._cell_autograd import (
    input_grads,
    project,
    sigmoid_backward,
    steps,
    tanh_backward,
    weight_grad,
)

__all__ = ["GRUFn", "LSTMFn", "MGUFn"]


class LSTMFn(torch.autograd.Function):
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
        gates = project(x, w_ih, b_ih + b_hh)  # (T, B, 4H), activated in place step by step
        t_len, b, four_h = gates.shape
        h = four_h // 4
        c, tc, out = (gates.new_empty(t_len, b, h) for _ in range(3))  # c_t, tanh(c_t), h_t
        gts, cs, tcs, outs = steps(gates, c, tc, out)
        ii, ff, gg, oo = steps(*gates.split(h, -1))
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
        sigmoid_backward.grad_input(g, i, grad_input=c_i)
        if c0 is None:
            c_f[0].zero_()
        else:
            sigmoid_backward.grad_input(c0, f[0], grad_input=c_f[0])
        sigmoid_backward.grad_input(c[:-1], f[1:], grad_input=c_f[1:])
        tanh_backward.grad_input(i, g, grad_input=c_g)
        sigmoid_backward.grad_input(tc, o, grad_input=c_o)
        q = tanh_backward(o, tc)
        d_ifg, d_o = steps(d_pre.view(t_len, b, 4, h)[:, :, :3], c_o)
        qs, fs, gs, dps = steps(q, f, grad, d_pre)
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
        dx, dw_ih, db = input_grads(ctx, d_pre, x, w_ih)
        dw_hh = weight_grad(d_pre[1:], out[:-1])
        dh0 = dc0 = None
        if h0 is not None:  # step 0's recurrent term h0 W_hh^T
            dw_hh.addmm_(dps[0].t(), h0)
            dh0 = dps[0] @ w_hh if ctx.needs_input_grad[5] else None
        if c0 is not None and ctx.needs_input_grad[6]:
            dc0 = dc.mul_(fs[0])  # c_0 = f_0 c0 + i_0 g_0
        return dx, dw_ih, db, dw_hh, db, dh0, dc0


class GRUFn(torch.autograd.Function):
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
        gates = project(x, w_ih, b_ih)  # (T, B, 3H), activated to r, z, n in place
        t_len, b, three_h = gates.shape
        h = three_h // 3
        gh_n, out = gates.new_empty(t_len, b, h), gates.new_empty(t_len, b, h)  # W_hn h + b_hn
        gh = gates.new_empty(b, three_h)  # h_{t-1} W_hh^T + b_hh of the current step
        gh_rz, gh_nt = gh[:, : 2 * h], gh[:, 2 * h :]
        rz, rs, zs, ns, ghn, outs = steps(gates[..., : 2 * h], *gates.split(h, -1), gh_n, out)
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
        a_n = tanh_backward.grad_input(1 - z, n, grad_input=torch.empty_like(n))
        d_gh = torch.empty(t_len, b, 3, h, dtype=out.dtype, device=out.device)
        a_r, a_z, a_hn = d_gh.unbind(2)
        sigmoid_backward.grad_input(gh_n, r, grad_input=a_r)
        if h0 is None:
            a_z[0] = n[0]
        else:
            torch.sub(n[0], h0, out=a_z[0])
        torch.sub(n[1:], out[:-1], out=a_z[1:])  # n_t - h_{t-1}
        sigmoid_backward.grad_input(a_z, z, grad_input=a_z).neg_()
        a_hn.copy_(r)
        d_n = torch.empty_like(out)  # d pre_n, the input-side gradient of the n block
        d_gh3 = d_gh.view(t_len, b, 3 * h)
        ans, zs, gs, dns, d_rn, d_z, dgs = steps(a_n, z, grad, d_n, d_gh[:, :, ::2], a_z, d_gh3)
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
        dw_hh = weight_grad(d_gh3[1:], out[:-1])
        dh0 = None
        if h0 is not None:  # step 0's recurrent input h0: through W_hh and through z
            dw_hh.addmm_(dgs[0].t(), h0)
            if ctx.needs_input_grad[5]:
                dh0 = torch.mul(dh, zs[0]).addmm_(dgs[0], w_hh)
        return dx, dw_ih, db_ih, dw_hh, db_hh, dh0


class MGUFn(torch.autograd.Function):
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
        gates = project(x, w_ih, b_ih + b_hh)  # (T, B, 2H), activated to f, h~ in place
        t_len, b, two_h = gates.shape
        h = two_h // 2
        fh, out = gates.new_empty(t_len, b, h), gates.new_empty(t_len, b, h)  # f * h_{t-1}, h_t
        fs, cs, fhs, outs = steps(*gates.split(h, -1), fh, out)
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
        a_h = tanh_backward(f, cand)  # per unit of dh: pre_h~ <- f (1 - h~^2)
        a_f = torch.empty_like(a_h)  # per unit of dh: f <- h~ - h_{t-1}
        if h0 is None:
            a_f[0] = cand[0]
        else:
            torch.sub(cand[0], h0, out=a_f[0])
        torch.sub(cand[1:], out[:-1], out=a_f[1:])
        keep = 1 - f  # per unit of dh: h_{t-1} <- 1 - f
        d_pre = torch.empty_like(gates)
        dfs, dhs, fs, ahs, afs, keeps, outs, gs = steps(
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
            sigmoid_backward.grad_input(df, fs[t], grad_input=dfs[t])
            if t:
                dh = torch.addcmul(gs[t - 1], dh, keeps[t]).addcmul_(d_fh, fs[t])
                dh.addmm_(dfs[t], wf)
        d_wf = weight_grad(d_pre[1:, :, :h], out[:-1])
        dh0 = None
        if h0 is not None:  # step 0's recurrent input h0: through W_f, 1 - f and f * h0
            d_wf.addmm_(dfs[0].t(), h0)
            if ctx.needs_input_grad[5]:
                dh0 = torch.mul(dh, keeps[0]).addcmul_(d_fh, fs[0]).addmm_(dfs[0], wf)
        d_w = torch.cat([d_wf, weight_grad(d_pre[..., h:], fh)])  # fh holds f_0 * h0 at step 0
        dx, dw_ih, db = input_grads(ctx, d_pre, x, w_ih)
        return dx, dw_ih, db, d_w, db, dh0
