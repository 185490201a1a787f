"""The hand-written autograd of the scratch cells, part 1: the helpers every cell's Function
shares (per-step views, the one-product input projection, the all-steps weight and input
gradients, torch's fused activation-backward kernels) and the ungated Elman cell's Function.

Kept apart from ``rnn_core.cells`` so that the public layers and the registry read on their
own; the design these Functions follow (one matrix product per side, a Python loop of in-place
steps, BPTT by hand) is described in that module's docstring. The gated cells' Functions are in
``rnn_core._gated_cell_autograd``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

__all__ = ["ElmanFn", "input_grads", "project", "relu_backward", "sigmoid_backward", "steps",
           "tanh_backward", "weight_grad"]

sigmoid_backward = torch.ops.aten.sigmoid_backward  # (grad, y) -> grad * y * (1 - y)
tanh_backward = torch.ops.aten.tanh_backward  # (grad, y) -> grad * (1 - y^2)
relu_backward = torch.ops.aten.threshold_backward  # (grad, y, 0) -> grad * (y > 0)


def steps(*tensors: Tensor) -> tuple[tuple[Tensor, ...], ...]:
    """Per-step views of time-major tensors, made once (indexing in the loop costs ~3 us each)."""
    return tuple(t.unbind(0) for t in tensors)


def project(x: Tensor, w_ih: Tensor, bias: Tensor) -> Tensor:
    """All input projections in one product: x (T, B, I) -> x W_ih^T + bias (T, B, G*H)."""
    return torch.addmm(bias, x.view(-1, x.shape[-1]), w_ih.t()).view(*x.shape[:2], -1)


def weight_grad(d_pre: Tensor, inputs: Tensor) -> Tensor:
    """Sum over steps and batch of d_pre^T @ inputs: (T, B, K), (T, B, H) -> (K, H)."""
    return d_pre.reshape(-1, d_pre.shape[-1]).t() @ inputs.reshape(-1, inputs.shape[-1])


def input_grads(
    ctx: FunctionCtx, d_pre: Tensor, x: Tensor, w_ih: Tensor
) -> tuple[Tensor | None, Tensor, Tensor]:
    """Gradients of x, W_ih and the (folded) bias from d pre-activations (T, B, G*H)."""
    d2 = d_pre.view(-1, d_pre.shape[-1])
    dx = (d2 @ w_ih).view(x.shape) if ctx.needs_input_grad[0] else None
    return dx, d2.t() @ x.view(-1, x.shape[-1]), d2.sum(0)


class ElmanFn(torch.autograd.Function):
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
        out = project(x, w_ih, b_ih + b_hh)  # pre-activations, turned into h_t step by step
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
        outs, dps, gs = steps(out, d_pre, grad)
        dh = gs[-1]
        for t in range(len(gs) - 1, -1, -1):
            if ctx.relu:
                relu_backward.grad_input(dh, outs[t], 0, grad_input=dps[t])
            else:
                tanh_backward.grad_input(dh, outs[t], grad_input=dps[t])
            if t:
                dh = torch.addmm(gs[t - 1], dps[t], w_hh)
        dx, dw_ih, db = input_grads(ctx, d_pre, x, w_ih)
        dw_hh = weight_grad(d_pre[1:], out[:-1])
        dh0 = None
        if h0 is not None:  # step 0's recurrent term h0 W_hh^T
            dw_hh.addmm_(dps[0].t(), h0)
            dh0 = dps[0] @ w_hh if ctx.needs_input_grad[5] else None
        return dx, dw_ih, db, dw_hh, db, dh0, None
