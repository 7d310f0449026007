"""Reductions over `axis` (None = all axes) with `keepdims`: sum, mean, var, max,
min, logsumexp.

The VJP of a reduction copies the upstream gradient back along the reduced
axes: `_expand(g)` restores the reduced axes as size 1 and broadcasts, so
every op here ends with "g, spread over the inputs that produced it".
"""
from ..backend import array_module
from ..function import Function
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


def mean(x, axis=None, keepdims=False):
    """sum / n; its gradient is g / n spread over the axis."""
    axis = normalize_axes(axis, x.ndim, 'mean')
    return Sum.apply(x, axis=axis, keepdims=keepdims) / _count(x.shape, axis)


class Var(Function):
    """var = sum((x - mean)^2) / (n - correction); correction=1 is the unbiased
    estimate (PyTorch's default), 0 the population variance."""

    def forward(self, x):
        self.in_shape = x.shape
        self.n = _count(x.shape, self.axis)
        return x.var(axis=self.axis, keepdims=self.keepdims, ddof=self.correction)

    def backward(self, g):  # d var / dx_i = 2 (x_i - mean) / (n - correction)
        x, = self.inputs
        centred = x - x.mean(self.axis, keepdims=True)
        return _keep(self, g) * centred * (2.0 / (self.n - self.correction))


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
