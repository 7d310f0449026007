"""Elementwise ops: arithmetic, exp/log, activations, clip, where, maximum/minimum.

Each backward is the local derivative times the upstream gradient `g`
(chain rule for y = f(x) elementwise: dL/dx = g * f'(x)). Broadcasting is
undone by the engine, not here. Masks (relu, clip, where, maximum) are
constants: their own derivative is zero almost everywhere.
"""
import math

from ..backend import array_module
from ..function import Function, expect_tensors
from ..grad_mode import is_grad_enabled
from ..parallel import over_rows
from ..tensor import Tensor, _operands


def _const(array):
    return Tensor._make(array)


class Add(Function):
    def forward(self, x, y):
        return x + y

    def backward(self, g):  # d(x+y)/dx = d(x+y)/dy = 1
        return g, g


class Sub(Function):
    def forward(self, x, y):
        return x - y

    def backward(self, g):  # d(x-y)/dy = -1
        return g, -g


class Mul(Function):
    def forward(self, x, y):
        return x * y

    def backward(self, g):  # d(xy)/dx = y, d(xy)/dy = x
        x, y = self.inputs
        return g * y, g * x


class Div(Function):
    def forward(self, x, y):
        return x / y

    def backward(self, g):  # d(x/y)/dx = 1/y, d(x/y)/dy = -x/y^2
        x, y = self.inputs
        gx = g / y
        return gx, -gx * x / y


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class PowScalar(Function):
    """x ** p for a constant number p."""

    def forward(self, x):
        return x ** self.p

    def backward(self, g):  # d(x^p)/dx = p x^(p-1); exactly 0 for p = 0 (not 0 * inf at x = 0)
        x, = self.inputs
        if self.p == 0:  # a constant: so x ** 1's second derivative, through x ** 0, is 0 too
            return _const(array_module(g.data).zeros_like(g.data))
        if self.p == 2:
            return g * (2 * x)
        return g * (self.p * x ** (self.p - 1))


class Pow(Function):
    """x ** y with both tensors (x > 0 where y is not an integer)."""

    def forward(self, x, y):
        return x ** y

    def backward(self, g):  # d/dx = y x^(y-1), d/dy = x^y log x
        x, y = self.inputs
        gx = g * y * x ** (y - 1) if self.needs_input_grad[0] else None
        gy = g * self.output * x.log() if self.needs_input_grad[1] else None
        return gx, gy


class Exp(Function):
    def forward(self, x):
        return array_module(x).exp(x)

    def backward(self, g):  # d e^x = e^x = y
        return g * self.output


class Log(Function):
    def forward(self, x):
        return array_module(x).log(x)

    def backward(self, g):  # d log x = 1/x
        x, = self.inputs
        return g / x


class Sqrt(Function):
    def forward(self, x):
        return array_module(x).sqrt(x)

    def backward(self, g):  # d sqrt(x) = 1 / (2 sqrt(x)) = 1 / (2y)
        return g / (2 * self.output)


class Abs(Function):
    def forward(self, x):
        return array_module(x).abs(x)

    def backward(self, g):  # d|x| = sign(x)
        x, = self.inputs
        return g * _const(array_module(x.data).sign(x.data))


class Tanh(Function):
    def forward(self, x):
        return array_module(x).tanh(x)

    def backward(self, g):  # d tanh = 1 - y^2:  g * (1 - y * y), as one op (TanhGrad)
        return TanhGrad.apply(self.output, g)


class TanhGrad(Function):
    """Tanh's VJP g (1 - y^2), y = tanh(x), built in place in one buffer: the line
    `g * (1 - y * y)` as one op instead of three (each op costs the engine's bookkeeping,
    and a small MLP is mostly these). Its own backward serves grad-of-grad."""

    def forward(self, y, g):
        xp = array_module(y)
        out = xp.asarray(y * y)  # (asarray: a 0-d product is a NumPy scalar, not writable)
        xp.subtract(1, out, out=out)
        out *= g
        return out

    def backward(self, gg):  # d/dy [g (1 - y^2)] = -2 y g,  d/dg = 1 - y^2
        y, g = self.inputs
        return gg * g * y * -2, gg * (1 - y * y)


def _sigmoid(x):
    """1 / (1 + e^-x) = (1 + tanh(x / 2)) / 2: tanh never overflows, and the
    in-place steps make one new array instead of a handful of temporaries."""
    xp = array_module(x)
    s = xp.array(x)  # a fresh array, even where x is a 0-d NumPy scalar
    s *= 0.5
    xp.tanh(s, out=s)
    s *= 0.5
    s += 0.5
    return s


class Sigmoid(Function):
    def forward(self, x):
        return _sigmoid(x)

    def backward(self, g):  # d sigma = sigma (1 - sigma)
        y = self.output
        return g * (y * (1 - y))


class Relu(Function):
    def forward(self, x):
        return array_module(x).maximum(x, 0)

    def backward(self, g):  # d relu = [x > 0]
        x, = self.inputs
        return g * _const(x.data > 0)


class LeakyRelu(Function):
    def forward(self, x):
        return array_module(x).where(x > 0, x, x * self.slope)

    def backward(self, g):  # d = 1 for x > 0, slope otherwise
        x, = self.inputs
        xp = array_module(x.data)
        return g * _const(xp.where(x.data > 0, 1, self.slope).astype(x.dtype))


class Silu(Function):
    """silu(x) = x sigma(x) (Elfwing et al. 2017, arXiv:1702.03118). In grad mode sigma(x)
    is kept for the backward (SiluGrad), which then needs no tanh of its own."""

    def forward(self, x):
        s = _sigmoid(x)
        if not is_grad_enabled():
            s *= x  # in place: one new array in all
            return s
        self.s = s
        return s * x

    def backward(self, g):  # d silu = sigma + x sigma (1 - sigma) = s (1 + x (1 - s))
        x, = self.inputs
        return SiluGrad.apply(x, g, s=self.s)


class SiluGrad(Function):
    """g * silu'(x) in one buffer (the hot path of every UNet ResBlock); param s = sigma(x),
    kept by Silu's forward."""

    def forward(self, x, g):  # g * s (1 + x (1 - s)), built in place in one buffer
        s = self.s
        out = array_module(x).subtract(1, s)
        out *= x
        out += 1
        out *= s
        out *= g
        return out

    def backward(self, gg):  # silu''(x) = s (1 - s) (2 + x (1 - 2 s)), for grad-of-grad
        x, g = self.inputs
        s = x.sigmoid()
        d1 = s * (1 + x * (1 - s))
        d2 = s * (1 - s) * (2 + x * (1 - 2 * s))
        return gg * g * d2, gg * d1


_GELU_C = math.sqrt(2 / math.pi)


class Gelu(Function):
    """gelu(x) ~ 0.5 x (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2/pi): the tanh
    form of Hendrycks & Gimpel 2016 (arXiv:1606.08415), eq. in section 2; NumPy has
    no erf, so this is the form minigen uses (PyTorch's approximate='tanh').

    The lines to read are `gelu_reference` below; forward builds the same numbers in
    place in two buffers (x ** 3 with a float power is slow in NumPy, and every
    temporary is a pass over memory), split over CPU threads where x is big (parallel.py),
    and keeps t = tanh(u) for the backward (GeluGrad), which then needs no tanh of its own. tests/engine/test_ops_elementwise.py checks the
    two agree."""

    def forward(self, x):
        xp = array_module(x)
        out, t = xp.empty_like(x), xp.empty_like(x)
        over_rows(_gelu_rows, x, out, t)       # (split over threads where x is big)
        if is_grad_enabled():
            self.t = t
        return out

    def backward(self, g):  # d = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 * 0.044715 x^2)
        x, = self.inputs
        return GeluGrad.apply(x, g, t=self.t)


def _gelu_rows(x, out, t):
    """out = gelu(x) and t = tanh(u) for these rows, in place in out and t."""
    xp = array_module(x)
    xp.multiply(x, x, out=t)               # u = c x (1 + 0.044715 x^2) = c (x + 0.044715 x^3)
    t *= 0.044715
    t += 1
    t *= x
    t *= _GELU_C
    xp.tanh(t, out=t)                      # t = tanh(u)
    xp.add(t, 1, out=out)
    out *= x
    out *= 0.5                             # 0.5 x (1 + t)


def _gelu_grad_rows(x, g, t, out):
    """out = g gelu'(x) for these rows, from t = tanh(u)."""
    xp = array_module(x)
    du = x * x
    du *= 0.134145
    du += 1
    du *= _GELU_C                          # u' = c (1 + 3 * 0.044715 x^2)
    xp.multiply(t, t, out=out)
    xp.subtract(1, out, out=out)           # 1 - t^2
    out *= x
    out *= du                              # x (1 - t^2) u'
    out += 1
    out += t
    out *= 0.5                             # 0.5 (1 + t) + 0.5 x (1 - t^2) u'
    out *= g


def gelu_reference(x):
    """The tanh GELU in plain NumPy/CuPy lines, and its derivative: what Gelu and GeluGrad
    compute (in fewer passes)."""
    xp = array_module(x)
    t = xp.tanh(_GELU_C * (x + 0.044715 * x ** 3))
    y = 0.5 * x * (1 + t)
    dy_dx = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (_GELU_C * (1 + 0.134145 * x * x))
    return y, dy_dx


class GeluGrad(Function):
    """g * gelu'(x) in one buffer (param t = tanh(u) kept by Gelu's forward):
        gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) u',   u' = c (1 + 3 * 0.044715 x^2)"""

    def forward(self, x, g):
        out = array_module(x).empty_like(x)
        over_rows(_gelu_grad_rows, x, g, self.t, out)
        return out

    def backward(self, gg):
        # gelu''(x) = (1 - t^2) (u' - x t u'^2 + 3 c 0.044715 x^2), from d t = (1 - t^2) u' dx
        x, g = self.inputs
        t = (_GELU_C * (x + 0.044715 * x ** 3)).tanh()
        du = _GELU_C * (1 + 0.134145 * x * x)
        d1 = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
        d2 = (1 - t * t) * (du - x * t * du * du + (3 * _GELU_C * 0.044715) * x * x)
        return gg * g * d2, gg * d1


class Softplus(Function):
    """softplus(x) = log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|)."""

    def forward(self, x):
        xp = array_module(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, g):  # d softplus = sigma(x)
        x, = self.inputs
        return g * x.sigmoid()


class Clip(Function):
    """clip(x, lo, hi) for numbers lo and hi (either may be None)."""

    def forward(self, x):
        return array_module(x).clip(x, self.lo, self.hi)

    def backward(self, g):  # 1 inside [lo, hi], 0 where clipped
        x, = self.inputs
        inside = array_module(x.data).ones_like(x.data, dtype=bool)
        if self.lo is not None:
            inside &= x.data >= self.lo
        if self.hi is not None:
            inside &= x.data <= self.hi
        return g * _const(inside)


class ClipTensors(Function):
    """clip(x, lo, hi) for Tensor bounds: max(x, lo), then min(., hi), so hi wins where
    hi < lo (as torch.clamp). The inputs are x and the bounds present (has_lo, has_hi)."""

    def forward(self, x, *bounds):
        xp = array_module(x)
        lo, hi = self._bounds(bounds)
        out = x if lo is None else xp.maximum(x, lo)
        return out if hi is None else xp.minimum(out, hi)

    def _bounds(self, bounds):
        bounds = list(bounds)
        lo = bounds.pop(0) if self.has_lo else None
        return lo, (bounds.pop(0) if self.has_hi else None)

    def backward(self, g):  # PyTorch's masks: to x where lo <= x <= hi, to lo where
        # x < lo < hi, to hi where x > hi or hi < lo (each is the input the output equals)
        x, *bounds = (t.data for t in self.inputs)
        lo, hi = self._bounds(bounds)
        to_x = True
        grads = []
        if lo is not None:
            to_x = x >= lo
            grads.append(g * _const((x < lo) & (True if hi is None else lo < hi)))
        if hi is not None:
            to_x = to_x & (x <= hi)
            grads.append(g * _const((x > hi) | (False if lo is None else hi < lo)))
        return (g * _const(to_x), *grads)


class Where(Function):
    """where(cond, x, y); `cond` is a constant boolean array."""

    def forward(self, x, y):
        return array_module(x).where(self.cond, x, y)

    def backward(self, g):  # the gradient goes to whichever input was picked
        zero = _const(array_module(g.data).zeros((), g.dtype))
        c = _const(self.cond)
        return where(c, g, zero), where(c, zero, g)


class Maximum(Function):
    def forward(self, x, y):
        return array_module(x).maximum(x, y)

    def backward(self, g):  # to the larger input; a tie splits g in halves
        x, y = self.inputs
        share = _tie_share(x.data, y.data)
        return g * _const(share), g * _const(1 - share)


class Minimum(Function):
    def forward(self, x, y):
        return array_module(x).minimum(x, y)

    def backward(self, g):
        x, y = self.inputs
        share = _tie_share(y.data, x.data)
        return g * _const(share), g * _const(1 - share)


def _tie_share(a, b):
    """1 where a > b, 0.5 where a == b, 0 where a < b (in a's dtype)."""
    dtype = a.dtype if a.dtype.kind == 'f' else b.dtype
    return ((a > b).astype(dtype) + 0.5 * (a == b).astype(dtype))


class Cast(Function):
    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, g):  # the engine casts g back to the input's dtype
        return g


# --- the functional API --------------------------------------------------------
def _pair(x, y):
    """Two operands as Tensors: a number or array takes the other's device and dtype."""
    if isinstance(x, Tensor):
        return _operands(x, y)
    if isinstance(y, Tensor):
        return _operands(y, x)[::-1]
    return _operands(Tensor(x), y)


def exp(x): return Exp.apply(x)
def log(x): return Log.apply(x)
def sqrt(x): return Sqrt.apply(x)
def abs(x): return Abs.apply(x)  # noqa: A001 (mirrors torch.abs)
def tanh(x): return Tanh.apply(x)
def sigmoid(x): return Sigmoid.apply(x)
def relu(x): return Relu.apply(x)
def leaky_relu(x, negative_slope=0.01): return LeakyRelu.apply(x, slope=negative_slope)
def silu(x): return Silu.apply(x)
def gelu(x): return Gelu.apply(x)
def softplus(x): return Softplus.apply(x)


def clip(x, min=None, max=None):  # noqa: A002 (torch.clamp's names)
    """x limited to [min, max] (either may be None): numbers, or Tensors and arrays that
    broadcast against x (Tensor bounds get gradients too, as in torch.clamp)."""
    expect_tensors('clip', x)
    if not any(isinstance(b, Tensor) or hasattr(b, 'shape') for b in (min, max)):
        return Clip.apply(x, lo=min, hi=max)
    bounds = [_operands(x, b)[1] for b in (min, max) if b is not None]
    return ClipTensors.apply(x, *bounds, has_lo=min is not None, has_hi=max is not None)


def where(cond, x, y):
    """x where cond is true, else y (cond: a boolean Tensor or array; no gradient)."""
    x, y = _pair(x, y)
    cond = cond.data if isinstance(cond, Tensor) else cond
    return Where.apply(x, y, cond=array_module(x.data).asarray(cond, dtype=bool))


def maximum(x, y):
    return Maximum.apply(*_pair(x, y))


def minimum(x, y):
    return Minimum.apply(*_pair(x, y))
