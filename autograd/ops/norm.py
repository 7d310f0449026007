"""Normalization layers as one op: group norm, layer norm, batch norm.

All three standardize x over a set of axes R (the "group" of n elements that
share one mean and variance), then apply a per-feature affine map:

    mu = mean_R(x),  sigma = sqrt(var_R(x) + eps)    (biased variance)
    xhat = (x - mu) / sigma,          y = gamma * xhat + beta

    batch norm  (Ioffe & Szegedy 2015, arXiv:1502.03167): R = all axes but channels
    layer norm  (Ba, Kiros & Hinton 2016, arXiv:1607.06450): R = the last axes
    group norm  (Wu & He 2018, arXiv:1803.08494): R = one group of C/G channels
                and the spatial axes, for each sample

Only R and the axes gamma spans differ, so one Function, `Normalize`, serves all three.

Backward in closed form (Ioffe & Szegedy 2015, section 3). mu and sigma depend on every
x_i of the group, so with n = |R|
    d xhat_j / d x_i = (delta_ij - 1/n - xhat_i xhat_j / n) / sigma
and summing ghat_j = g_j gamma_j times that over j:
    dx     = (ghat - mean_R(ghat) - xhat * mean_R(ghat * xhat)) / sigma
    dgamma = sum over gamma's broadcast axes of g * xhat,   dbeta = the same sum of g.
`closed_form_backward` writes it with Tensor ops, so it is differentiable again
(create_graph=True, as gradient penalties need).

Read `Normalize` and `closed_form_backward` first: the formulas above, line by line.
The section "fused, for speed" below them computes the same numbers in fewer passes over
x, and is what runs by default (Normalize.fast; tests/engine/test_norm.py checks the
two agree):
  * the sums over R as BLAS matrix-vector products (`_sum`),
  * the forward in place in the output's buffer (`_normalized`),
  * the backward on raw arrays with the sums over the axes that R and gamma's broadcast
    share taken once (`_fused_backward`), a handful of passes instead of the dozen ops
    the Tensor version records,
  * NormalizeSilu: the op followed by SiLU, z = silu(y) (GroupNorm then SiLU comes twice
    in every UNet ResBlock), fused so that the activation costs one exp and two cheap
    passes over the output instead of six passes, the two ops one saved state, and the
    forward is split over the batch across CPU threads.
"""
import math

import numpy as np

from ..backend import array_module
from ..function import Function, expect_tensors
from ..grad_mode import is_grad_enabled
from ..parallel import over_rows
from ..tensor import Tensor


class Normalize(Function):
    """y = gamma * (x - mu_R) / sqrt(var_R + eps) + beta; gamma and beta are given
    already shaped to broadcast against x (or left out: `affine` says which are
    present). Params: axis (the tuple R), eps, affine = (has_gamma, has_beta), and
    fast (default True: the fused section below; False: the plain lines here)."""
    fast = True

    def forward(self, x, *params):
        gamma, beta = _split(self.affine, params)
        if self.fast:  # the same numbers in fewer passes over x
            return _normalized(self, x, gamma, beta)
        xp, R = array_module(x), self.axis
        xc = x - x.mean(axis=R, keepdims=True)                                    # x - mu
        xhat = xc / xp.sqrt(xp.square(xc).mean(axis=R, keepdims=True) + self.eps)  # / sigma
        y = xhat if gamma is None else xhat * gamma
        return y if beta is None else y + beta

    def backward(self, g):  # dx = (ghat - mean_R(ghat) - xhat mean_R(ghat xhat)) / sigma
        x, *params = self.inputs
        gamma, beta = _split(self.affine, params)
        if self.fast and not is_grad_enabled():  # no graph to record: raw arrays, fused
            gamma, beta = (None if p is None else p.data for p in (gamma, beta))
            grads = [Tensor._make(a) for a in _fused_backward(self, g.data, gamma, beta)]
        else:
            grads = closed_form_backward(self, g, x, gamma, beta)
        return tuple(grads) if params else grads[0]


def closed_form_backward(fn, g, x, gamma, beta):
    """[dx] + [dgamma] + [dbeta] (the last two where present) of the module docstring,
    with Tensor ops: differentiable again."""
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


def _split(affine, params):
    """(gamma, beta) from the op's extra inputs, None for the ones left out."""
    params = list(params)
    gamma = params.pop(0) if affine[0] else None
    beta = params.pop(0) if affine[1] else None
    return gamma, beta


# --- fused, for speed: the same numbers as the lines above, in fewer passes -------------
def _sum(a, axes):
    """a.sum(axis=axes, keepdims=True). Where `axes` are a's last ones, as matrix-vector
    products with ones: BLAS does that 3-5x faster than NumPy's reduction (which sums
    pairwise, on one thread).
      * a contiguous: a[i] (M, n) @ ones(n), one product per index i of the first axis,
        which gives each i the same sums however the first axis is cut into pieces (a
        product over more rows may group a row's terms differently);
      * a strided view whose last axis is contiguous (a conv's channel-major output seen
        as (N, G, C/G, HW)): the last axis first, a @ ones, one product per matrix of
        the stack (BLAS reads the rows where they are, no copy), then the few sums left."""
    xp, k = array_module(a), len(axes)
    if not k or tuple(axes) != tuple(range(a.ndim - k, a.ndim)):
        return a.sum(axis=axes, keepdims=True)
    kept = a.shape[:a.ndim - k] + (1,) * k
    if a.flags.c_contiguous:
        n = math.prod(a.shape[a.ndim - k:])
        rows = a.reshape(a.shape[0] if k < a.ndim else 1, math.prod(a.shape[1:a.ndim - k]), n)
        return xp.matmul(rows, xp.ones(n, a.dtype)).reshape(kept)
    if a.ndim < 2 or a.strides[-1] != a.itemsize:
        return a.sum(axis=axes, keepdims=True)
    s = xp.matmul(a, xp.ones(a.shape[-1], a.dtype))
    return s.sum(axis=tuple(range(a.ndim - k, a.ndim - 1))).reshape(kept)


def _normalized(fn, x, gamma, beta, scale=1):
    """scale * (gamma * xhat + beta) as a new array; keeps fn.xc = x - mu and fn.rstd =
    1 / sigma, the state the backward reads."""
    y = _standardize(fn, x)
    _affine(fn.xc, fn.rstd, gamma, beta, scale, out=y)
    return y


def _standardize(fn, x):
    """Keeps fn.xc = x - mu and fn.rstd = 1 / sigma; returns a scratch array like x
    (used for (x - mu)^2), which the output can take over."""
    xp = array_module(x)  # (new arrays C-contiguous whatever x's layout: _sum's fast case)
    fn.xc, y = xp.empty(x.shape, x.dtype), xp.empty(x.shape, x.dtype)
    fn.rstd = xp.empty(_kept_shape(x.shape, fn.axis), x.dtype)
    _standardize_into(x, fn.axis, fn.eps, fn.xc, fn.rstd, y)
    return y


def _standardize_into(x, axis, eps, xc, rstd, scratch):
    """x - mu into xc and 1 / sigma into rstd, with scratch (like x) for (x - mu)^2."""
    xp = array_module(x)
    n = math.prod(x.shape[a] for a in axis)
    xp.subtract(x, _sum(x, axis) / n, out=xc)
    var = _sum(xp.square(xc, out=scratch), axis) / n  # two-pass: stable
    xp.divide(1, xp.sqrt(var + eps), out=rstd)


def _kept_shape(shape, axis):
    """The shape of a sum over `axis` with keepdims=True."""
    return tuple(1 if a in axis else n for a, n in enumerate(shape))


def _affine(xc, rstd, gamma, beta, scale, out):
    """out = scale * (gamma * xc * rstd + beta): the normalized x, scaled and shifted."""
    a = rstd if gamma is None else gamma * rstd
    array_module(xc).multiply(xc, a if scale == 1 else scale * a, out=out)  # xhat gamma
    if beta is not None:
        out += beta if scale == 1 else scale * beta


def _fused_backward(fn, g, gamma, beta, scale=1):
    """The closed form of the module docstring on raw arrays, for the upstream gradient
    scale * g; returns [dx] + [dgamma] + [dbeta], the last two where present.
    With A the axes gamma broadcasts over, sums over axes in both R and A are taken once
    and shared (for group norm they are the spatial axes): ghat there is g times a
    constant gamma, so mean_R(ghat * xhat) = sum_{R-A} gamma * (sum_{R&A} g * xhat) / n.
    The forward kept x - mu = xhat sigma (not xhat: one pass fewer), so xhat = xc * rstd.
    The VJP is linear in g, so `scale` multiplies the small sums and dx's per-row factor
    instead of costing a pass over g.
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
    s2 = _sum(gx, shared) * (rstd * scale)                   # sum_{R&A} g * xhat
    if scale != 1:
        s1 = s1 * scale
    grads = [None]
    if gamma is not None:
        grads.append(s2.sum(axis=only_A, keepdims=True))
    if beta is not None:
        grads.append(s1.sum(axis=only_A, keepdims=True))
    if gamma is not None:
        s1, s2 = s1 * gamma, s2 * gamma
    m1 = s1.sum(axis=only_R, keepdims=True) / n  # mean_R(ghat)
    m2 = s2.sum(axis=only_R, keepdims=True) / n  # mean_R(ghat * xhat)
    dx = g * (rstd * scale if gamma is None else gamma * (rstd * scale))  # ghat / sigma:
    dx -= array_module(g).multiply(xc, m2 * rstd * rstd, out=gx)  # - xhat * m2 / sigma
    dx -= m1 * rstd                                               # - m1 / sigma
    grads[0] = dx
    return grads


class NormalizeSilu(Normalize):
    """z = silu(y) = y sigma(y) for y = Normalize(x) (same params, plus `shape`: x is
    normalized as x.reshape(shape) and z has x's shape, so the upstream gradient, often
    a strided view, is read once by the multiplication below instead of copied first).
    The affine map is run with its sign flipped, v = -y (free), so that with e = exp(v)
        sigma(y) = 1 / (1 + e),    z = y sigma(y) = v / -(1 + e):
    one exp and two cheap passes (NumPy's float32 exp costs about half its tanh, the
    other way to a sigmoid).

    Backward: dz/dy = silu'(y) = s (1 + y (1 - s)) with s = sigma(y) (product rule,
    sigma' = s (1 - s)); in terms of v and s' = -s, silu'(y) = s' (v (1 + s') - 1).
    Normalize's closed form then carries dL/dy = g silu'(y) to x, gamma and beta. The
    forward keeps x - mu, 1 / sigma and s'; the backward recomputes v from x - mu (two
    cheap passes, the same numbers) rather than keep it: one activation-sized array fewer
    held from forward to backward, in every ResBlock twice.

    Each sample is normalized on its own (R holds no batch axis), so the forward is split
    over the batch across CPU threads (parallel.over_rows): the exp is compute-bound and
    PyTorch runs it on every core too."""

    def forward(self, x, *params):
        xp = array_module(x)
        gamma, beta = _split(self.affine, params)
        shape, x, axis, eps = x.shape, x.reshape(self.shape), self.axis, self.eps
        self.xc, v = xp.empty(x.shape, x.dtype), xp.empty(x.shape, x.dtype)  # C-contiguous
        self.rstd = xp.empty(_kept_shape(x.shape, axis), x.dtype)
        split = over_rows if 0 not in axis else _whole
        if not is_grad_enabled():  # no backward: x - mu's buffer becomes the output z
            def rows(x, xc, rstd, v):
                _standardize_into(x, axis, eps, xc, rstd, scratch=v)
                _affine(xc, rstd, gamma, beta, -1, out=v)  # v = -y
                e = _exp(v, out=xc)
                xp.subtract(-1, e, out=e)  # -(1 + e)
                xp.divide(v, e, out=e)     # z
            split(rows, x, self.xc, self.rstd, v)
            return self.xc.reshape(shape)
        self.s, z = xp.empty_like(v), xp.empty_like(v)

        def rows(x, xc, rstd, v, s, z):
            _standardize_into(x, axis, eps, xc, rstd, scratch=v)
            _affine(xc, rstd, gamma, beta, -1, out=v)  # v = -y
            e = _exp(v, out=s)
            xp.subtract(-1, e, out=e)  # -(1 + e)
            xp.divide(v, e, out=z)     # z, as the lines above: the same numbers
            xp.divide(1, e, out=s)     # s' = -sigma(y)
        split(rows, x, self.xc, self.rstd, v, self.s, z)
        return z.reshape(shape)

    def backward(self, g):
        x, *params = self.inputs
        gamma, beta = _split(self.affine, params)
        if is_grad_enabled():  # create_graph=True: y again, from recorded ops
            y = normalize(x.reshape(self.shape), self.axis, gamma, beta, self.eps)
            s = y.sigmoid()
            dy = g.reshape(self.shape) * (s * (1 + y * (1 - s)))
            grads = closed_form_backward(self, dy, x.reshape(self.shape), gamma, beta)
        else:  # dL/dy = g silu'(y) = g s' (v (1 + s') - 1)
            xp = array_module(g.data)
            gamma, beta = (None if p is None else p.data for p in (gamma, beta))
            v = xp.empty_like(self.s)
            _affine(self.xc, self.rstd, gamma, beta, -1, out=v)  # v as the forward had it
            dy = xp.add(self.s, 1)
            dy *= v
            dy -= 1
            dy *= self.s
            dy_as_g = dy.reshape(g.shape)  # a view: g is read in its own layout, not copied
            dy_as_g *= g.data
            grads = [Tensor._make(a) for a in _fused_backward(self, dy, gamma, beta)]
        grads[0] = grads[0].reshape(x.shape)
        return tuple(grads) if params else grads[0]


def _exp(v, out):
    """exp(v) into out; where v > 88 float32 overflows to inf, which is right here
    (sigma(y) -> 0, z -> -0), so NumPy's overflow warning is silenced."""
    with np.errstate(over='ignore'):
        return array_module(v).exp(v, out=out)


def _whole(body, *arrays):
    return body(*arrays)


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
    return _group_norm('group_norm', Normalize, x, num_groups, weight, bias, eps)


def group_norm_silu(x, num_groups, weight=None, bias=None, eps=1e-5):
    """silu(group_norm(x, ...)) as one op (NormalizeSilu): the same values, fewer passes."""
    return _group_norm('group_norm_silu', NormalizeSilu, x, num_groups, weight, bias, eps)


def _group_norm(name, op, x, num_groups, weight, bias, eps):
    expect_tensors(name, x)
    if x.ndim < 2:
        raise ValueError(f"{name}: x must be (N, C, ...), got shape {x.shape}")
    N, C = x.shape[:2]
    if num_groups <= 0 or C % num_groups:
        raise ValueError(f"{name}: num_groups={num_groups} does not divide the "
                         f"{C} channels of x {x.shape}")
    _check_param(name, 'weight', weight, (C,))
    _check_param(name, 'bias', bias, (C,))
    G = num_groups
    per_channel = (1, G, C // G, 1)
    grouped = (N, G, C // G, math.prod(x.shape[2:]))
    params = [p.reshape(per_channel) for p in (weight, bias) if p is not None]
    affine = (weight is not None, bias is not None)
    if op is NormalizeSilu:  # reshapes inside (see its docstring)
        return op.apply(x, *params, axis=(2, 3), eps=eps, affine=affine, shape=grouped)
    return op.apply(x.reshape(grouped), *params, axis=(2, 3), eps=eps,
                    affine=affine).reshape(x.shape)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Statistics over the last len(normalized_shape) axes, which must equal
    normalized_shape; weight and bias have that shape."""
    expect_tensors('layer_norm', x)
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
    expect_tensors('batch_norm', x)
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
