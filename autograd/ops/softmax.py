"""Numerically stable softmax and log-softmax along any axis.

    softmax(x)_i     = exp(x_i - m) / sum_j exp(x_j - m),  m = max_j x_j
    log_softmax(x)_i = x_i - m - log sum_j exp(x_j - m)
Subtracting m changes nothing mathematically and keeps exp from overflowing.
Both backwards are fused into one closed form (below) instead of the chain
of exp, sum and divide they would otherwise record.
"""
from ..backend import array_module
from ..function import Function, expect_tensors
from ..tensor import normalize_axis


def _log_softmax(x, axis):
    xp = array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    def forward(self, x):
        return array_module(x).exp(_log_softmax(x, self.axis))

    def backward(self, g):  # J = diag(y) - y y^T, so J^T g = y * (g - sum(g * y))
        y = self.output
        return y * (g - (g * y).sum(self.axis, keepdims=True))


class LogSoftmax(Function):
    def forward(self, x):
        return _log_softmax(x, self.axis)

    def backward(self, g):  # d log_softmax_i / dx_j = [i=j] - softmax_j: g - softmax * sum(g)
        return g - self.output.exp() * g.sum(self.axis, keepdims=True)


def softmax(x, axis=-1, dim=None):
    """`dim` is PyTorch's name for `axis`; either may be given."""
    expect_tensors('softmax', x)
    axis = axis if dim is None else dim
    return Softmax.apply(x, axis=normalize_axis(axis, x.ndim, 'softmax'))


def log_softmax(x, axis=-1, dim=None):
    expect_tensors('log_softmax', x)
    axis = axis if dim is None else dim
    return LogSoftmax.apply(x, axis=normalize_axis(axis, x.ndim, 'log_softmax'))
