"""Linear algebra: the matrix product, the inverse and the log-determinant.

matmul, with batch broadcasting, as numpy.matmul / torch.matmul. For C = A B (last two
axes; leading axes broadcast):
    dL/dA = G B^T,   dL/dB = A^T G
(from dC_ij = sum_k dA_ik B_kj + A_ik dB_kj). The engine sums the batch axes
back if A or B was broadcast. 1-D operands are promoted to matrices first, as
numpy does, so the Function only ever sees ndim >= 2.

linear, y = x W^T + b for x (N, in), W (out, in), b (out,): the same product as one op,
which is all a fully connected layer does (minigen.nn.Linear). Written as `x @ W.T + b` it
is three ops (a transpose, the product, the broadcast sum) and seven more in backward;
as one Function it is one, with the three VJPs
    dL/dx = G W,   dL/dW = G^T x,   dL/db = sum over rows of G
(the matmul VJPs above with B = W^T, and the broadcast of b summed back).

inv, of square matrices (..., n, n): from A A^{-1} = I, d(A^{-1}) = -A^{-1} dA A^{-1}, so
    dL/dA = -A^{-T} G A^{-T}.

slogdet, as numpy.linalg.slogdet / torch.linalg.slogdet: (sign, log |det A|) of square
matrices (..., n, n). Jacobi's formula d det A = det A tr(A^{-1} dA) gives
    d log|det A| = tr(A^{-1} dA),   so   dL/dA = g A^{-T}
(g the upstream gradient of log|det A|). The sign is piecewise constant: no gradient.
Normalizing flows need it: Glow's invertible 1x1 convolution adds H W log|det W| to the
log-likelihood (minigen/flows/invconv.py).
"""
from ..backend import array_module
from ..function import Function, expect_tensors
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor


class MatMul(Function):
    def forward(self, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                             f"({a.shape[-1]} != {b.shape[-2]})")
        return array_module(a).matmul(a, b)

    def backward(self, g):
        a, b = self.inputs
        ga = g @ b.transpose(-1, -2) if self.needs_input_grad[0] else None
        gb = a.transpose(-1, -2) @ g if self.needs_input_grad[1] else None
        return ga, gb


def matmul(a, b):
    expect_tensors('matmul', a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: both operands need at least one dimension; use * for scalars")
    squeeze = []
    if a.ndim == 1:
        a, squeeze = a.reshape(1, -1), squeeze + [-2]
    if b.ndim == 1:
        b, squeeze = b.reshape(-1, 1), squeeze + [-1]
    if a.ndim > 2 and b.ndim == 2 and not squeeze and a.size and a.shape[-1] == b.shape[0]:
        # (..., n, k) @ (k, m) is one (N n, k) @ (k, m) product: one BLAS call instead of
        # N, and B's gradient one product instead of N summed by the engine
        out = MatMul.apply(a.reshape(-1, a.shape[-1]), b)
        return out.reshape(a.shape[:-1] + (b.shape[-1],))
    if a.ndim == 2 and b.ndim == 3 and not squeeze and b.size and a.shape[-1] == b.shape[-2]:
        # (m, k) @ (N, k, n), a 1x1 convolution over a batch: one (m, k) @ (k, N n) product
        # on b's matrices laid side by side (one copy of b) instead of N small ones, and
        # both gradients one product each; the result is a (N, m, n) view of (m, N n)
        (N, k, n), m = b.shape, a.shape[0]
        out = MatMul.apply(a, b.permute(1, 0, 2).reshape(k, N * n))
        return out.reshape(m, N, n).permute(1, 0, 2)
    out = MatMul.apply(a, b)
    if squeeze:
        out = out.reshape(out.shape[:-2] + tuple(n for i, n in zip((-2, -1), out.shape[-2:])
                                                if i not in squeeze))
    return out


class Linear(Function):
    """x W^T + b (b optional) for x (N, in): minigen.nn.linear's fast path, equal to
    `x @ w.T + b` (tests/engine/test_ops_linalg.py checks that it is)."""

    def forward(self, x, w, *b):
        y = array_module(x).matmul(x, w.T)
        if b:
            y += b[0]
        return y

    def backward(self, g):
        x, w, *b = self.inputs
        need = self.needs_input_grad
        if not is_grad_enabled():  # no graph to record: the same three lines on raw arrays
            return _linear_vjp(g.data, x.data, w.data, need[:2] + ((need[2],) if b else ()))
        gx = g @ w if need[0] else None                      # G W
        gw = g.transpose(0, 1) @ x if need[1] else None      # G^T x
        if not b:
            return gx, gw
        return gx, gw, (g.sum(0) if need[2] else None)       # sum_rows G


def _linear_vjp(g, x, w, need):
    """Linear.backward's lines on arrays; the bias's row sum as the product ones^T G, which
    BLAS runs on every core (NumPy's sum over rows runs on one)."""
    xp = array_module(g)
    grads = [xp.matmul(g, w) if need[0] else None, xp.matmul(g.T, x) if need[1] else None]
    if len(need) == 3:
        grads.append(xp.matmul(xp.ones(g.shape[0], g.dtype), g) if need[2] else None)
    return tuple(None if a is None else Tensor._make(a) for a in grads)


def linear(x, w, b=None):
    """x W^T + b for a matrix x (N, in), W (out, in), b (out,) or None, as one op."""
    expect_tensors('linear', x, w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1] or (
            b is not None and b.shape != (w.shape[0],)):
        raise ValueError(f"linear: expected x (N, in), weight (out, in), bias (out,), got x "
                         f"{x.shape}, weight {w.shape}, bias {None if b is None else b.shape}")
    return Linear.apply(x, w) if b is None else Linear.apply(x, w, b)


def _check_square(name, a):
    expect_tensors(name, a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name}: needs square matrices (..., n, n), got shape {a.shape}")


class Inv(Function):
    def forward(self, a):
        return array_module(a).linalg.inv(a)

    def backward(self, g):  # d(A^-1) = -A^-1 dA A^-1  ->  dL/dA = -A^-T G A^-T
        inv_t = self.output.transpose(-1, -2)
        return -(inv_t @ g @ inv_t)


def inv(a):
    """The inverse of square matrices (..., n, n)."""
    _check_square('inv', a)
    return Inv.apply(a)


class LogAbsDet(Function):
    def forward(self, a):  # `value`: log|det a|, computed by slogdet together with the sign
        return self.value

    def backward(self, g):  # Jacobi: d log|det A| = tr(A^-1 dA)  ->  dL/dA = g A^-T
        a, = self.inputs
        return g.unsqueeze(-1).unsqueeze(-1) * inv(a).transpose(-1, -2)


def slogdet(a):
    """(sign, logabsdet) of square matrices (..., n, n), as torch.linalg.slogdet: det A =
    sign * exp(logabsdet). logabsdet is differentiable (dL/dA = g A^{-T}, twice too,
    through `inv`); sign is a constant Tensor. A singular matrix gives sign 0 and
    logabsdet -inf, as NumPy's."""
    _check_square('slogdet', a)
    xp = array_module(a.data)
    sign, logabsdet = xp.linalg.slogdet(a.data)
    return Tensor._make(xp.asarray(sign)), LogAbsDet.apply(a, value=xp.asarray(logabsdet))
