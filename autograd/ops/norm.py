"""Normalization layers as one fused op: group norm, layer norm, batch norm.

All three standardize x over a set of axes R (the "group" of n elements that
share one mean and variance), then apply a per-feature affine map:

    mu = mean_R(x),  sigma = sqrt(var_R(x) + eps)    (biased variance)
    xhat = (x - mu) / sigma,          y = gamma * xhat + beta

    batch norm  (Ioffe & Szegedy 2015, arXiv:1502.03167): R = all axes but channels
    layer norm  (Ba, Kiros & Hinton 2016, arXiv:1607.06450): R = the last axes
    group norm  (Wu & He 2018, arXiv:1803.08494): R = one group of C/G channels
                and the spatial axes, for each sample

Only R and the axes gamma spans differ, so one Function serves all three.
Its backward is the closed form (derived at `_fused_backward`) in raw-array
code, a handful of passes over x instead of the dozen small ops a composed
version records. Under create_graph the same formula is written with Tensor
ops (`_composed_backward`), so gradient penalties can differentiate through it.
"""
import math

from ..backend import array_module
from ..function import Function
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor


def _sum(a, axes):
    """a.sum(axis=axes, keepdims=True). Where `axes` are a's last ones and a is contiguous,
    as a matrix-vector product a (M, n) @ ones(n): BLAS does that 3-5x faster than
    NumPy's reduction (which sums pairwise, on one thread)."""
    xp, k = array_module(a), len(axes)
    if not k or tuple(axes) != tuple(range(a.ndim - k, a.ndim)) or not a.flags.c_contiguous:
        return a.sum(axis=axes, keepdims=True)
    n = math.prod(a.shape[a.ndim - k:])
    return xp.matmul(a.reshape(-1, n), xp.ones(n, a.dtype)).reshape(a.shape[:a.ndim - k] + (1,) * k)


class Normalize(Function):
    """y = gamma * (x - mu_R) / sqrt(var_R + eps) + beta; gamma and beta are given
    already shaped to broadcast against x (or left out: `affine` says which are
    present). Params: axis (the tuple R), eps, affine = (has_gamma, has_beta)."""

    def forward(self, x, *params):
        xp = array_module(x)
        gamma, beta = _split(self.affine, params)
        y = xp.empty_like(x)  # the output, first used as scratch for (x - mu)^2
        n = math.prod(x.shape[a] for a in self.axis)
        self.xc = x - _sum(x, self.axis) / n
        var = _sum(xp.square(self.xc, out=y), self.axis) / n  # two-pass: stable
        self.rstd = 1 / xp.sqrt(var + self.eps)
        xp.multiply(self.xc, self.rstd if gamma is None else gamma * self.rstd, out=y)  # xhat gamma
        if beta is not None:
            y += beta
        return y

    def backward(self, g):  # dx = (ghat - mean_R(ghat) - xhat mean_R(ghat xhat)) / sigma
        x, *params = self.inputs
        if is_grad_enabled():  # create_graph=True: a gradient that is itself differentiable
            grads = _composed_backward(self, g, x, *_split(self.affine, params))
        else:
            gamma, beta = _split(self.affine, [p.data for p in params])
            grads = [Tensor._make(a) for a in _fused_backward(self, g.data, gamma, beta)]
        return tuple(grads) if params else grads[0]


def _split(affine, params):
    """(gamma, beta) from the op's extra inputs, None for the ones left out."""
    params = list(params)
    gamma = params.pop(0) if affine[0] else None
    beta = params.pop(0) if affine[1] else None
    return gamma, beta


def _fused_backward(fn, g, gamma, beta):
    """Closed form of the VJP, on raw arrays. With ghat = g * gamma and n = |R|:
      d xhat_j / d x_i = (delta_ij - 1/n - xhat_i xhat_j / n) / sigma
    (mu and sigma depend on every x_i of the group), so summing ghat_j over j:
      dx     = (ghat - mean_R(ghat) - xhat * mean_R(ghat * xhat)) / sigma
      dgamma = sum over gamma's broadcast axes A of g * xhat,   dbeta = sum_A g.
    Sums over axes in both R and A are taken once and shared (for group norm they
    are the spatial axes): ghat there is g times a constant gamma, so
    mean_R(ghat * xhat) = sum_{R-A} gamma * (sum_{R&A} g * xhat) / n.
    Forward kept x - mu = xhat sigma (not xhat: one pass fewer), so xhat = xc * rstd.
    Returns [dx] + [dgamma] + [dbeta], the last two where present.
    """
    xc, rstd = fn.xc, fn.rstd
    n = math.prod(xc.shape[a] for a in fn.axis)
    param = gamma if gamma is not None else beta  # both have one shape when both exist
    A = tuple(a for a in range(g.ndim) if param is None or param.shape[a] == 1)
    shared = tuple(a for a in fn.axis if a in A)
    only_R = tuple(a for a in fn.axis if a not in A)
    only_A = tuple(a for a in A if a not in fn.axis)
    gx = g * xc
    s1 = _sum(g, shared) if shared else g                    # sum_{R&A} g
    s2 = _sum(gx, shared) * rstd                             # sum_{R&A} g * xhat
    grads = [None]
    if gamma is not None:
        grads.append(s2.sum(axis=only_A, keepdims=True))
    if beta is not None:
        grads.append(s1.sum(axis=only_A, keepdims=True))
    if gamma is not None:
        s1, s2 = s1 * gamma, s2 * gamma
    m1 = s1.sum(axis=only_R, keepdims=True) / n  # mean_R(ghat)
    m2 = s2.sum(axis=only_R, keepdims=True) / n  # mean_R(ghat * xhat)
    dx = g * (rstd if gamma is None else gamma * rstd)  # ghat / sigma, in passes over x:
    dx -= array_module(g).multiply(xc, m2 * rstd * rstd, out=gx)  # - xhat * m2 / sigma
    dx -= m1 * rstd                                               # - m1 / sigma
    grads[0] = dx
    return grads


def _composed_backward(fn, g, x, gamma, beta):
    """The same VJP as `_fused_backward`, written with Tensor ops (differentiable)."""
    R = fn.axis
    xc = x - x.mean(R, keepdims=True)
    rstd = 1 / (x.var(R, keepdims=True, correction=0) + fn.eps).sqrt()
    xhat = xc * rstd
    ghat = g if gamma is None else g * gamma
    dx = rstd * (ghat - ghat.mean(R, keepdims=True)
                 - xhat * (ghat * xhat).mean(R, keepdims=True))
    grads = [dx]
    if gamma is not None:  # the engine sums over gamma's broadcast axes
        grads.append(g * xhat)
    if beta is not None:
        grads.append(g)
    return grads


def normalize(x, axis, gamma, beta, eps):
    """Apply `Normalize` over axes `axis` with gamma, beta (Tensors with x's number of
    dimensions that broadcast against it, one shape for both; or None)."""
    params = [p for p in (gamma, beta) if p is not None]
    return Normalize.apply(x, *params, axis=tuple(axis), eps=eps,
                           affine=(gamma is not None, beta is not None))


# --- the functional API (minigen.nn.functional re-exports these) ---------------------
def _check_param(op, name, p, shape):
    if p is not None and tuple(p.shape) != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}, got {tuple(p.shape)}")


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """x of shape (N, C, *): statistics per sample over each group of C/G channels and
    all spatial positions; weight and bias of shape (C,) scale and shift channels."""
    if x.ndim < 2:
        raise ValueError(f"group_norm: x must be (N, C, ...), got shape {x.shape}")
    N, C = x.shape[:2]
    if num_groups <= 0 or C % num_groups:
        raise ValueError(f"group_norm: num_groups={num_groups} does not divide the "
                         f"{C} channels of x {x.shape}")
    _check_param('group_norm', 'weight', weight, (C,))
    _check_param('group_norm', 'bias', bias, (C,))
    G = num_groups
    per_channel = (1, G, C // G, 1)
    xg = x.reshape(N, G, C // G, math.prod(x.shape[2:]))
    y = normalize(xg, (2, 3), weight if weight is None else weight.reshape(per_channel),
                  bias if bias is None else bias.reshape(per_channel), eps)
    return y.reshape(x.shape)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Statistics over the last len(normalized_shape) axes, which must equal
    normalized_shape; weight and bias have that shape."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if not 0 < k <= x.ndim or x.shape[x.ndim - k:] != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be the last axes of "
                         f"x, whose shape is {x.shape}")
    _check_param('layer_norm', 'weight', weight, shape)
    _check_param('layer_norm', 'bias', bias, shape)
    full = (1,) * (x.ndim - k) + shape
    R = tuple(range(x.ndim - k, x.ndim))
    return normalize(x, R, weight if weight is None else weight.reshape(full),
                     bias if bias is None else bias.reshape(full), eps)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """x of shape (N, C, *). Training: statistics over every axis but C, and the
    running estimates (Tensors of shape (C,), or None) move in place towards them:
        running_mean <- (1 - momentum) running_mean + momentum mean
        running_var  <- (1 - momentum) running_var  + momentum var * n / (n - 1)
    (the unbiased variance, as PyTorch). Eval: normalize with the running estimates."""
    if x.ndim < 2:
        raise ValueError(f"batch_norm: x must be (N, C, ...), got shape {x.shape}")
    C = x.shape[1]
    for name, p in (('running_mean', running_mean), ('running_var', running_var),
                    ('weight', weight), ('bias', bias)):
        _check_param('batch_norm', name, p, (C,))
    per_channel = (1, C) + (1,) * (x.ndim - 2)
    gamma = weight if weight is None else weight.reshape(per_channel)
    beta = bias if bias is None else bias.reshape(per_channel)
    R = (0,) + tuple(range(2, x.ndim))
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: eval mode (training=False) needs running_mean "
                             "and running_var")
        xp = array_module(x.data)
        rstd = 1 / xp.sqrt(running_var.data.reshape(per_channel) + eps)
        scale = Tensor._make(rstd) if gamma is None else gamma * Tensor._make(rstd)
        y = (x - Tensor._make(running_mean.data.reshape(per_channel))) * scale
        return y if beta is None else y + beta
    n = x.size // C
    if n < 2:
        raise ValueError(f"batch_norm: training needs more than 1 value per channel, "
                         f"got x of shape {x.shape}")
    y = normalize(x, R, gamma, beta, eps)
    if running_mean is not None:
        running_mean.copy_((1 - momentum) * running_mean.data
                           + momentum * x.data.mean(axis=R))
    if running_var is not None:
        running_var.copy_((1 - momentum) * running_var.data
                          + momentum * x.data.var(axis=R, ddof=1))
    return y
