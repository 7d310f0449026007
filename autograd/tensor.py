"""Tensor: an array of NumPy or CuPy, plus what reverse mode needs to know about it.

A Tensor holds
  data           the raw array (numpy.ndarray on 'cpu', cupy.ndarray on 'cuda')
  requires_grad  whether gradients should flow to it
  grad           the accumulated gradient (a Tensor) after `backward`
  creator        the Function that produced it (None for a leaf)
  _version       bumped by every in-place op, so backward can detect them

Every operator (`+`, `@`, `x.exp()`, `x[idx]`, ...) is a Function from
`autograd/ops/`; this file only routes to them. Constructors at the bottom
(`tensor`, `zeros`, `randn`, ...) mirror PyTorch's.
"""
import numpy as np

from . import backend
from . import grad_mode
from .function import run_backward

float32, float64, int64, int32, bool_ = np.float32, np.float64, np.int64, np.int32, np.bool_


class Tensor:
    __slots__ = ('data', 'requires_grad', 'grad', 'creator', '_version', '_retains_grad',
                 '__weakref__')
    __array_priority__ = 1000  # numpy scalars/arrays on the left defer to our operators

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        is_array = hasattr(data, 'shape') and hasattr(data, 'dtype')
        if not is_array:  # a Python number or (nested) list
            data = np.asarray(data)
            if dtype is None:  # Python floats become float32, ints int64
                kind = data.dtype.kind
                dtype = backend.default_dtype if kind == 'f' else (np.int64 if kind in 'iu' else None)
        device = backend.check_device(device or (backend.device_of(data) if is_array
                                                 else backend.get_default_device()))
        self.data = backend.xp_for(device).asarray(backend.to_device(data, device), dtype=dtype)
        self.grad = None
        self.creator = None
        self._version = 0
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()

    @classmethod
    def _make(cls, array):
        """Wrap an array that is already on its device, with no checks (used by ops)."""
        t = cls.__new__(cls)
        t.data, t.grad, t.creator, t._version = array, None, None, 0
        t.requires_grad, t._retains_grad = False, False
        return t

    # --- properties -----------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_leaf(self):
        return self.creator is None

    def __len__(self):
        return len(self.data)

    def numel(self):
        return self.data.size

    def dim(self):
        return self.data.ndim

    def __repr__(self):
        body = np.array2string(self.numpy(), precision=4, separator=', ', threshold=20,
                               prefix='tensor(')
        extra = f", dtype={self.dtype}, device='{self.device}'"
        if self.creator is not None:
            extra += f", grad_fn={self.creator.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}, shape={self.shape}{extra})"

    # --- conversion -----------------------------------------------------------
    def numpy(self):
        """The data as a NumPy array (copied off the GPU when needed)."""
        return backend.to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only a one-element tensor converts to a Python "
                             f"number, this one has shape {self.shape}")
        return self.data.reshape(-1)[0].item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """The same array, cut from the graph."""
        return Tensor._make(self.data)

    def to(self, device=None, dtype=None):
        out = self
        if device is not None and backend.check_device(device) != self.device:
            out = ops.shape.ToDevice.apply(out, device=backend.check_device(device))
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = out.astype(dtype)
        return out

    def cpu(self):
        return self.to('cpu')

    def cuda(self):
        return self.to('cuda')

    def astype(self, dtype):
        if np.dtype(dtype) == self.dtype:
            return self
        return ops.elementwise.Cast.apply(self, dtype=np.dtype(dtype))

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    def long(self):
        return self.astype(np.int64)

    # --- autograd -------------------------------------------------------------
    def requires_grad_(self, flag=True):
        if flag and self.dtype.kind != 'f':
            raise TypeError(f"only floating-point tensors can require gradients, "
                            f"this one is {self.dtype}")
        self.requires_grad = flag
        return self

    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after backward."""
        self._retains_grad = True

    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) * grad into every leaf's `.grad`."""
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no "
                               "graph (was it computed under no_grad, or from tensors "
                               "without requires_grad=True?)")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward(): grad can be implied only for a scalar output; "
                                   f"this one has shape {self.shape}, so pass grad= of that shape")
            grad = Tensor._make(backend.array_module(self.data).ones_like(self.data))
        else:
            grad = grad if isinstance(grad, Tensor) else Tensor(grad, device=self.device)
            if grad.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {grad.shape} but the tensor "
                                 f"has shape {self.shape}")
        run_backward([self], [grad], retain_graph=retain_graph or create_graph,
                     create_graph=create_graph)

    # --- in-place ops: allowed outside the graph only; each bumps the version ---
    def _inplace(self, new_data):
        if self.requires_grad and grad_mode.is_grad_enabled():
            raise RuntimeError("in-place op on a tensor that requires grad: wrap it in "
                               "autograd.no_grad() (as optimizers do) or use the out-of-place op")
        xp = backend.array_module(self.data)
        self.data[...] = xp.asarray(new_data, dtype=self.dtype)
        self._version += 1
        return self

    def add_(self, other, alpha=1):
        return self._inplace(self.data + alpha * _raw(other))

    def sub_(self, other, alpha=1):
        return self._inplace(self.data - alpha * _raw(other))

    def mul_(self, other):
        return self._inplace(self.data * _raw(other))

    def div_(self, other):
        return self._inplace(self.data / _raw(other))

    def copy_(self, other):
        return self._inplace(_raw(other))

    def fill_(self, value):
        return self._inplace(value)

    def zero_(self):
        return self._inplace(0)

    def __setitem__(self, index, value):
        if self.requires_grad and grad_mode.is_grad_enabled():
            self._inplace(self.data)  # raises the readable error
        self.data[ops.shape.raw_index(index)] = _raw(value)
        self._version += 1

    # --- operators ------------------------------------------------------------
    def __add__(self, other):
        return ops.elementwise.Add.apply(self, _as_tensor(other, self))

    def __radd__(self, other):
        return ops.elementwise.Add.apply(_as_tensor(other, self), self)

    def __sub__(self, other):
        return ops.elementwise.Sub.apply(self, _as_tensor(other, self))

    def __rsub__(self, other):
        return ops.elementwise.Sub.apply(_as_tensor(other, self), self)

    def __mul__(self, other):
        return ops.elementwise.Mul.apply(self, _as_tensor(other, self))

    def __rmul__(self, other):
        return ops.elementwise.Mul.apply(_as_tensor(other, self), self)

    def __truediv__(self, other):
        return ops.elementwise.Div.apply(self, _as_tensor(other, self))

    def __rtruediv__(self, other):
        return ops.elementwise.Div.apply(_as_tensor(other, self), self)

    def __neg__(self):
        return ops.elementwise.Neg.apply(self)

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            return ops.elementwise.Pow.apply(self, exponent)
        return ops.elementwise.PowScalar.apply(self, p=exponent)

    def __rpow__(self, base):
        return ops.elementwise.Pow.apply(_as_tensor(base, self), self)

    def __matmul__(self, other):
        return ops.linalg.matmul(self, _as_tensor(other, self))

    def __rmatmul__(self, other):
        return ops.linalg.matmul(_as_tensor(other, self), self)

    def __getitem__(self, index):
        return ops.shape.getitem(self, index)

    # comparisons give boolean tensors outside the graph (they have no gradient)
    def __lt__(self, other):
        return Tensor._make(self.data < _raw(other))

    def __le__(self, other):
        return Tensor._make(self.data <= _raw(other))

    def __gt__(self, other):
        return Tensor._make(self.data > _raw(other))

    def __ge__(self, other):
        return Tensor._make(self.data >= _raw(other))

    def eq(self, other):
        return Tensor._make(self.data == _raw(other))

    __hash__ = object.__hash__  # tensors are dict keys by identity, as in PyTorch

    # --- methods that route to ops -------------------------------------------
    def exp(self):
        return ops.elementwise.Exp.apply(self)

    def log(self):
        return ops.elementwise.Log.apply(self)

    def sqrt(self):
        return ops.elementwise.Sqrt.apply(self)

    def abs(self):
        return ops.elementwise.Abs.apply(self)

    def tanh(self):
        return ops.elementwise.Tanh.apply(self)

    def sigmoid(self):
        return ops.elementwise.Sigmoid.apply(self)

    def relu(self):
        return ops.elementwise.Relu.apply(self)

    def clip(self, min=None, max=None):
        return ops.elementwise.Clip.apply(self, lo=min, hi=max)

    clamp = clip

    def sum(self, axis=None, keepdims=False):
        return ops.reduce.Sum.apply(self, axis=_axes(axis, self.ndim), keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return ops.reduce.mean(self, axis, keepdims)

    def var(self, axis=None, keepdims=False, correction=1):
        return ops.reduce.Var.apply(self, axis=_axes(axis, self.ndim), keepdims=keepdims,
                                    correction=correction)

    def max(self, axis=None, keepdims=False):
        return ops.reduce.Max.apply(self, axis=_axes(axis, self.ndim), keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return ops.reduce.Min.apply(self, axis=_axes(axis, self.ndim), keepdims=keepdims)

    def argmax(self, axis=None):
        return Tensor._make(backend.array_module(self.data).argmax(self.data, axis=axis))

    def logsumexp(self, axis=None, keepdims=False):
        return ops.reduce.LogSumExp.apply(self, axis=_axes(axis, self.ndim), keepdims=keepdims)

    def softmax(self, axis=-1):
        return ops.softmax.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis=-1):
        return ops.softmax.LogSoftmax.apply(self, axis=axis)

    def reshape(self, *shape):
        return ops.shape.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    view = reshape

    def permute(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return ops.shape.Permute.apply(self, axes=tuple(a % self.ndim for a in axes))

    def transpose(self, a=-2, b=-1):
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return self.permute(axes)

    @property
    def T(self):
        return self.permute(tuple(reversed(range(self.ndim))))

    def broadcast_to(self, shape):
        return ops.shape.BroadcastTo.apply(self, shape=tuple(shape))

    expand = broadcast_to

    def squeeze(self, axis=None):
        return ops.shape.squeeze(self, axis)

    def unsqueeze(self, axis):
        return ops.shape.unsqueeze(self, axis)

    def flatten(self, start_dim=0, end_dim=-1):
        return ops.shape.flatten(self, start_dim, end_dim)

    def split(self, size_or_sizes, axis=0):
        return ops.shape.split(self, size_or_sizes, axis)

    def chunk(self, chunks, axis=0):
        return ops.shape.chunk(self, chunks, axis)


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _as_tensor(x, like):
    """A Python number or array meeting a Tensor: give it the Tensor's dtype and device."""
    if isinstance(x, Tensor):
        return x
    xp = backend.array_module(like.data)
    dtype = like.dtype if (np.isscalar(x) or like.dtype.kind == 'f') else None
    return Tensor._make(xp.asarray(x, dtype=dtype))


def _axes(axis, ndim):
    """Normalize an axis argument to a sorted tuple of non-negative axes (or None)."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise IndexError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted(a % max(ndim, 1) for a in axes))


# ------------------------------------------------------------------ constructors
def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new leaf tensor from a number, list, NumPy or CuPy array (copied)."""
    if isinstance(data, Tensor):
        data = data.data.copy()
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _new(fill, shape, dtype, device, requires_grad):
    device = backend.check_device(device or backend.get_default_device())
    xp = backend.xp_for(device)
    data = fill(xp, _shape(shape), np.dtype(dtype or backend.default_dtype))
    return Tensor._make(data).requires_grad_(requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _new(lambda xp, s, d: xp.zeros(s, d), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _new(lambda xp, s, d: xp.ones(s, d), shape, dtype, device, requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False):
    return _new(lambda xp, s, d: xp.full(s, value, d), (shape,), dtype, device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal samples from the device's seeded generator."""
    device = device or backend.get_default_device()
    gen = backend.rng(device)
    return _new(lambda xp, s, d: gen.standard_normal(s).astype(d), shape, dtype, device,
                requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1) from the device's seeded generator."""
    device = device or backend.get_default_device()
    gen = backend.rng(device)
    return _new(lambda xp, s, d: gen.random(s).astype(d), shape, dtype, device, requires_grad)


def randint(low, high, shape, device=None):
    device = device or backend.get_default_device()
    gen = backend.rng(device)
    return _new(lambda xp, s, d: gen.integers(low, high, s).astype(d), (shape,), np.int64,
                device, False)


def arange(start, stop=None, step=1, dtype=None, device=None):
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        dtype = np.int64 if all(isinstance(v, int) for v in (start, stop, step)) else backend.default_dtype
    xp = backend.xp_for(device or backend.get_default_device())
    return Tensor._make(xp.arange(start, stop, step, dtype=dtype))


def _like(fn):
    def like(t, dtype=None, device=None, requires_grad=False):
        return fn(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                  requires_grad=requires_grad)
    like.__name__ = fn.__name__ + '_like'
    like.__doc__ = f"`{fn.__name__}` with the shape, dtype and device of `t`."
    return like


zeros_like, ones_like, randn_like, rand_like = map(_like, (zeros, ones, randn, rand))


def manual_seed(seed):
    backend.manual_seed(seed)


from . import ops  # noqa: E402  (ops import Tensor from this module)
