"""Reductions over `axis` (None = all axes) with `keepdims`: sum, mean, var, std, max,
min, logsumexp. Each also takes PyTorch's names, `dim` and `keepdim` (axes.py).

The VJP of a reduction copies the upstream gradient back along the reduced
axes: `_expand(g)` restores the reduced axes as size 1 and broadcasts, so
every op here ends with "g, spread over the inputs that produced it".
"""
from collections import namedtuple

import numpy as np

from ..axes import normalize_axis, reduction_args
from ..backend import array_module
from ..function import Function, expect_tensors
from ..tensor import Tensor, normalize_axes


def _keep(fn, g):
    """g with the reduced axes put back as size-1 axes (so it broadcasts against x)."""
    if fn.keepdims or fn.axis is None and g.ndim == len(fn.in_shape):
        return g
    shape = list(fn.in_shape)
    for a in (fn.axis if fn.axis is not None else range(len(shape))):
        shape[a] = 1
    return g.reshape(tuple(shape))


def _count(shape, axis):
    n = 1
    for a in (axis if axis is not None else range(len(shape))):
        n *= shape[a]
    return n


class Sum(Function):
    def forward(self, x):
        self.in_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, g):  # each summed element gets g
        return _keep(self, g).broadcast_to(self.in_shape)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """sum / n; its gradient is g / n spread over the axis."""
    axis, keepdims = _args('mean', x, axis, keepdims, dim, keepdim)
    return Sum.apply(x, axis=axis, keepdims=keepdims) / _count(x.shape, axis)


class Var(Function):
    """var = sum((x - mean)^2) / (n - correction); correction=1 is the unbiased
    estimate (PyTorch's default), 0 the population variance."""

    def forward(self, x):
        self.in_shape = x.shape
        self.n = _count(x.shape, self.axis)
        return x.var(axis=self.axis, keepdims=self.keepdims, ddof=self.correction)

    def backward(self, g):
        return _var_grad(self, g)


def _var_grad(fn, g):
    """d var / dx_i = 2 (x_i - mean) / (n - correction); with nothing left after the
    correction (n - correction <= 0, where the forward is inf or NaN) the factor is inf,
    so the gradient is inf or NaN too, as PyTorch's (never a ZeroDivisionError)."""
    x, = fn.inputs
    centred = x - x.mean(fn.axis, keepdims=True)
    dof = fn.n - fn.correction
    return _keep(fn, g) * centred * (2.0 / dof if dof > 0 else float('inf'))


class Std(Function):
    """std = sqrt(var), var as in `Var` (the same correction)."""

    def forward(self, x):
        self.in_shape = x.shape
        self.n = _count(x.shape, self.axis)
        var = x.var(axis=self.axis, keepdims=self.keepdims, ddof=self.correction)
        return array_module(x).sqrt(var)

    def backward(self, g):  # d sqrt(var) = d var / (2 std); 0 where std = 0 (as PyTorch)
        y = self.output
        zero = y.data == 0  # a constant input: 0/0, which PyTorch sets to 0
        keep, fill = _const((~zero).astype(y.dtype)), _const(zero.astype(y.dtype))
        return _var_grad(self, g * keep / (2 * (y + fill)))


def _const(array):
    return Tensor._make(array)


class _Extreme(Function):
    """max / min; where several elements tie for the extreme they share g equally."""

    def backward(self, g):  # d max = indicator of the arg-max, split over ties
        x, = self.inputs
        y = self.output.data
        if not self.keepdims:
            y = _keep(self, Tensor._make(y)).data
        hit = (x.data == y).astype(x.dtype)
        hit /= hit.sum(axis=self.axis, keepdims=True)
        return _keep(self, g) * Tensor._make(hit)


class Max(_Extreme):
    def forward(self, x):
        self.in_shape = x.shape
        return x.max(axis=self.axis, keepdims=self.keepdims)


class Min(_Extreme):
    def forward(self, x):
        self.in_shape = x.shape
        return x.min(axis=self.axis, keepdims=self.keepdims)


class LogSumExp(Function):
    """log sum exp(x), computed as m + log sum exp(x - m) with m = max x (no overflow)."""

    def forward(self, x):
        xp = array_module(x)
        self.in_shape = x.shape
        m = x.max(axis=self.axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        out = xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True)) + m
        return out if self.keepdims else out.reshape(
            [n for i, n in enumerate(x.shape) if self.axis is not None and i not in self.axis])

    def backward(self, g):  # d lse / dx = softmax(x) = exp(x - lse)
        x, = self.inputs
        lse = _keep(self, self.output)
        return _keep(self, g) * (x - lse).exp()


# --- the functional API: NumPy's axis/keepdims or PyTorch's dim/keepdim -------------------
def _args(op, x, axis, keepdims, dim, keepdim):
    """The reduced axes (normalized) and keepdims, from either pair of names."""
    expect_tensors(op, x)
    axis, keepdims = reduction_args(op, axis, keepdims, dim, keepdim)
    return normalize_axes(axis, x.ndim, op), keepdims


def _correction(op, correction, unbiased):
    """torch.var/std: `correction` (default 1), or the older `unbiased` (True is 1)."""
    if correction is not None and unbiased is not None:
        raise TypeError(f"{op}: give correction or unbiased, not both")
    if unbiased is not None:
        return int(bool(unbiased))
    return 1 if correction is None else correction


def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001 (torch.sum)
    axis, keepdims = _args('sum', x, axis, keepdims, dim, keepdim)
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def var(x, axis=None, *, keepdims=False, correction=None, dim=None, keepdim=None,
        unbiased=None):
    """Variance with `correction` (1, the default, is unbiased; 0 the population variance).
    As torch.var, everything after the axis is a keyword (torch.var(x, 0, True) meant
    unbiased=True, never keepdims)."""
    axis, keepdims = _args('var', x, axis, keepdims, dim, keepdim)
    return Var.apply(x, axis=axis, keepdims=keepdims,
                     correction=_correction('var', correction, unbiased))


def std(x, axis=None, *, keepdims=False, correction=None, dim=None, keepdim=None,
        unbiased=None):
    """Standard deviation, sqrt(var(...)) with var's arguments (torch.std)."""
    axis, keepdims = _args('std', x, axis, keepdims, dim, keepdim)
    return Std.apply(x, axis=axis, keepdims=keepdims,
                     correction=_correction('std', correction, unbiased))


def logsumexp(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axis, keepdims = _args('logsumexp', x, axis, keepdims, dim, keepdim)
    return LogSumExp.apply(x, axis=axis, keepdims=keepdims)


ValuesIndices = namedtuple('ValuesIndices', 'values indices')  # torch.return_types.max/min


def max(x, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001 (torch.max)
    """The largest value over `axis` (ties share the gradient equally). With `dim`, as
    torch.max(x, dim): the pair (values, indices), the gradient to the first maximum."""
    return _extreme('max', Max, x, axis, keepdims, dim, keepdim)


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001 (torch.min)
    """As `max`, for the smallest value."""
    return _extreme('min', Min, x, axis, keepdims, dim, keepdim)


def _extreme(op, cls, x, axis, keepdims, dim, keepdim):
    axes, keepdims = _args(op, x, axis, keepdims, dim, keepdim)
    if dim is None:
        return cls.apply(x, axis=axes, keepdims=keepdims)
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim= gives PyTorch's (values, indices) over one axis, got "
                        f"dim={dim!r}; use axis= for the values over several axes")
    if x.ndim == 0:  # torch.max(x, 0) of a 0-d x: (x, 0)
        return ValuesIndices(x, Tensor._make(array_module(x.data).zeros((), np.int64)))
    dim = normalize_axis(dim, x.ndim, op)
    indices = _arg('argmax' if op == 'max' else 'argmin', x, dim, None, True)
    values = gather(x, dim, indices)  # so the gradient goes to that one element
    if not keepdims:
        values, indices = values.squeeze(dim), indices.squeeze(dim)
    return ValuesIndices(values, indices)


def argmax(x, axis=None, *, dim=None, keepdim=False):
    """Index of the first largest value over one axis, or of the flattened x (no gradient)."""
    return _arg('argmax', x, axis, dim, keepdim)


def argmin(x, axis=None, *, dim=None, keepdim=False):
    """Index of the first smallest value over one axis, or of the flattened x."""
    return _arg('argmin', x, axis, dim, keepdim)


def _arg(op, x, axis, dim, keepdim):
    expect_tensors(op, x)
    axis, _ = reduction_args(op, axis, False, dim, None)
    xp = array_module(x.data)
    if axis is None or x.ndim == 0:
        out = getattr(xp, op)(x.data)
        return Tensor._make(out.reshape((1,) * x.ndim) if keepdim else out)
    axis = normalize_axis(axis, x.ndim, op)
    return Tensor._make(getattr(xp, op)(x.data, axis=axis, keepdims=keepdim))


from .shape import gather  # noqa: E402 (shape.py imports the Tensor this module sees)
