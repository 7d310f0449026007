"""Scaled dot-product attention as one fused op.

"Attention Is All You Need" (Vaswani et al. 2017, arXiv:1706.03762), eq. (1):

    Attention(Q, K, V) = softmax(Q K^T * scale + M) V,    scale = 1/sqrt(d) by default

for queries Q (..., L, d), keys K (..., S, d), values V (..., S, d_v); leading
axes broadcast, so multi-head inputs (B, heads, L, d) need no reshaping. M is
the mask as an additive bias: 0 where a key is kept, -inf where it is not
(a boolean mask is True = keep, as in PyTorch; a float mask is added as is;
is_causal keeps key j for query i when j <= i). A query with no key left gets
weights 0 (output 0), as PyTorch's math backend does.

One op instead of matmul, scale, add, softmax, matmul: the forward keeps only
P = softmax(...) (L x S per batch) and the backward is the closed form, with
dO the gradient of the output and S = Q K^T * scale + M:
    dV = P^T dO                 (from O = P V)
    dP = dO V^T
    dS = P * (dP - rowsum(dP * P))   (softmax VJP: J = diag(p) - p p^T per row)
    dQ = dS K * scale,   dK = dS^T Q * scale
Under create_graph the same formulas run as Tensor ops (differentiable again).
"""
import functools
import math

import numpy as np

from ..backend import array_module
from ..function import Function, expect_tensors
from ..grad_mode import is_grad_enabled
from ..parallel import over_rows
from ..tensor import Tensor


def _t(a):  # swap the last two axes (a view)
    return a.swapaxes(-1, -2)


class ScaledDotProductAttention(Function):
    """Params: bias (the additive mask M as an array broadcasting to (..., L, S), or
    None) and scale."""

    def forward(self, q, k, v):
        xp = array_module(q)
        s = xp.matmul(q, _t(k))
        s *= self.scale
        bias, masked = self.bias, self.bias is not None
        if masked and _broadcast_shape(s.shape, bias.shape) != s.shape:
            s, bias = s + bias, None  # the mask adds batch axes (from v's): a new array
        rows = functools.partial(_softmax_rows, bias=bias, masked=masked)
        if s.ndim >= 3 and (bias is None or bias.ndim <= 2):
            over_rows(rows, s)  # the softmax rows split over threads (the products use BLAS's)
        else:
            rows(s)
        self.p = s
        return xp.matmul(s, v)

    def backward(self, g):
        q, k, v = self.inputs
        if is_grad_enabled():  # create_graph=True
            return _composed_backward(self, g, q, k, v)
        xp = array_module(g.data)
        dO, p = g.data, self.p
        need_q, need_k, need_v = self.needs_input_grad
        dq = dk = None
        dv = xp.matmul(_t(p), dO) if need_v else None      # dV = P^T dO
        if need_q or need_k:
            ds = xp.matmul(dO, _t(v.data))                 # dP
            if ds.shape == p.shape and ds.ndim >= 3:       # rows split over threads
                over_rows(_softmax_vjp_rows, ds, p)
            else:
                ds = _softmax_vjp_rows(ds, p)
            if need_q:
                dq = xp.matmul(ds, k.data)
                dq *= self.scale
            if need_k:
                dk = xp.matmul(_t(ds), q.data)
                dk *= self.scale
        return tuple(None if a is None else Tensor._make(a) for a in (dq, dk, dv))


def _softmax_rows(s, bias, masked):
    """s <- softmax(s + M) in place over the last axis, M the additive mask `bias` (None
    when there is none or it was added already; `masked`: there was one)."""
    xp = array_module(s)
    if bias is not None:
        s += bias
    m = s.max(axis=-1, keepdims=True)
    if masked:  # a row masked everywhere: max -inf, exp 0, weights 0
        m = xp.where(xp.isfinite(m), m, 0)
    s -= m
    xp.exp(s, out=s)
    z = s.sum(axis=-1, keepdims=True)
    if masked:
        z = xp.where(z == 0, 1, z)
    s /= z


def _softmax_vjp_rows(ds, p):
    """dS = P * (dP - rowsum(dP * P)) in place in ds (dP on entry); returns it."""
    xp = array_module(ds)
    r = xp.einsum('...ij,...ij->...i', ds, p)              # rowsum(dP * P)
    ds -= r[..., None]
    ds *= p                                                # dS = P * (dP - r)
    return ds


def _composed_backward(fn, g, q, k, v):
    """The VJP above written with Tensor ops, so it can be differentiated again. A query
    whose keys are all masked gets P = 0, as in forward: its bias row is set to 0 (so the
    softmax sees finite numbers, not -inf - -inf = nan) and its P row multiplied by 0."""
    s = (q @ k.transpose()) * fn.scale
    if fn.bias is not None:
        xp = array_module(fn.bias)
        dead = xp.isneginf(fn.bias).all(axis=-1, keepdims=True)  # (..., L, 1)
        s = s + Tensor._make(xp.where(dead, 0, fn.bias).astype(fn.bias.dtype))
        p = s.softmax(-1) * Tensor._make((~dead).astype(fn.bias.dtype))
    else:
        p = s.softmax(-1)
    dp = g @ v.transpose()
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return (ds @ k) * fn.scale, (ds.transpose() @ q) * fn.scale, p.transpose() @ g


def _mask_bias(mask, is_causal, L, S, q):
    """The additive bias M for `mask` / `is_causal` (None when there is neither)."""
    xp = array_module(q.data)
    if is_causal:
        keep = xp.tril(xp.ones((L, S), dtype=bool))  # key j <= query i
        return xp.where(keep, 0, -np.inf).astype(q.dtype)
    if mask is None:
        return None
    m = mask.data if isinstance(mask, Tensor) else xp.asarray(mask)
    if m.dtype == np.bool_:
        return xp.where(m, 0, -np.inf).astype(q.dtype)
    if m.dtype.kind != 'f':
        raise TypeError(f"scaled_dot_product_attention: mask must be boolean (True = keep) "
                        f"or float (added to the scores), got {m.dtype}")
    return m.astype(q.dtype, copy=False)


def _broadcast_shape(a, b):
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        return None


def scaled_dot_product_attention(q, k, v, mask=None, is_causal=False, scale=None):
    """softmax(q k^T * scale + mask) v for q (..., L, d), k (..., S, d), v (..., S, d_v);
    scale defaults to 1/sqrt(d). `mask` broadcasts to (..., L, S): boolean (True =
    attend) or float (added to the scores); it gets no gradient."""
    name = 'scaled_dot_product_attention'
    expect_tensors(name, q, k, v)
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise ValueError(f"{name}: q, k, v need at least 2 dimensions, got shapes "
                         f"{q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{name}: q (..., L, d), k (..., S, d) and v (..., S, d_v) do not "
                         f"match: got {q.shape}, {k.shape}, {v.shape}")
    if is_causal and mask is not None:
        raise ValueError(f"{name}: give either mask or is_causal=True, not both")
    L, S = q.shape[-2], k.shape[-2]
    try:
        scores = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]) + (L, S)
    except ValueError:
        raise ValueError(f"{name}: the batch axes of q {q.shape}, k {k.shape} and v {v.shape} "
                         f"do not broadcast") from None
    bias = _mask_bias(mask, is_causal, L, S, q)
    if bias is not None and _broadcast_shape(bias.shape, scores) != scores:
        raise ValueError(f"{name}: mask of shape {bias.shape} does not broadcast to the "
                         f"scores' shape {scores}")
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return ScaledDotProductAttention.apply(q, k, v, bias=bias, scale=scale)
