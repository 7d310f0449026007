"""Tensor: an array of NumPy or CuPy, plus what reverse mode needs to know about it.

A Tensor holds
  data           the raw array (numpy.ndarray on 'cpu', cupy.ndarray on 'cuda')
  requires_grad  whether gradients should flow to it
  grad           the accumulated gradient (a Tensor) after `backward`
  creator        the Function that produced it (None for a leaf)
  _version       bumped by every in-place op, so backward can detect them; a view
                 (x[0], x.T, x.reshape(...), x.detach()) shares its base's counter, so
                 writing through the view is caught too, as in PyTorch

Every operator (`+`, `@`, `x.exp()`, `x[idx]`, ...) is a Function from
`autograd/ops/`; this file only routes to them. The constructors (`tensor`,
`as_tensor`, `zeros`, `randn`, ...) are in creation.py.
"""
import numpy as np

from . import backend
from . import grad_mode
from .axes import normalize_axis, normalize_axes, shape_arg
from .function import run_backward


class Tensor:
    __slots__ = ('data', 'requires_grad', 'grad', 'creator', '_vc', '_retains_grad',
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
        self._vc = [0]  # the version counter: a one-element list, shared with views
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()

    @classmethod
    def _make(cls, array):
        """Wrap an array that is already on its device, with no checks (used by ops)."""
        t = cls.__new__(cls)
        t.data, t.grad, t.creator, t._vc = array, None, None, [0]
        t.requires_grad, t._retains_grad = False, False
        return t

    # --- properties -----------------------------------------------------------
    @property
    def _version(self):
        return self._vc[0]

    @_version.setter
    def _version(self, value):  # `t._version += 1` bumps every view of the same memory
        self._vc[0] = value

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
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __bool__(self):  # `if t:` needs one element, as in PyTorch (not "is it non-empty")
        if self.data.size != 1:
            raise RuntimeError(f"bool(): the truth value of a tensor of shape {self.shape} is "
                               f"ambiguous; use .any() or .all() on .data, or .item()")
        return bool(self.data.reshape(-1)[0])

    def numel(self):
        return self.data.size

    def dim(self):
        return self.data.ndim

    def __repr__(self):
        body = np.array2string(self.numpy(), precision=4, separator=', ', threshold=20,
                               prefix='tensor(')
        extra = f", dtype={self.dtype}, device='{self.device}'"
        if self.requires_grad:
            extra += ", requires_grad=True"
        if self.creator is not None:
            extra += f", grad_fn={self.creator.name}"
        return f"tensor({body}, shape={self.shape}{extra})"

    # --- conversion -----------------------------------------------------------
    def numpy(self):
        """The data as a NumPy array: on the CPU a read-only view (writing into it would
        change, behind the version counter, an array that a backward may need), off the
        GPU a copy. `.numpy().copy()` gives an array of your own to write into."""
        if backend.array_module(self.data) is not np:
            return backend.to_numpy(self.data)
        if isinstance(self.data, np.generic):  # a 0-d result of NumPy: immutable already
            return self.data
        view = self.data.view()
        view.flags.writeable = False
        return view

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only a one-element tensor converts to a Python "
                             f"number, this one has shape {self.shape}")
        return self.data.reshape(-1)[0].item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """The same array, cut from the graph (it shares the version counter: writing
        into the detached tensor in place is caught by a backward that needs the original)."""
        out = Tensor._make(self.data)
        out._vc = self._vc
        return out

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
        """A copy in another dtype; only a float-to-float cast stays in the graph."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind != 'f':  # integers and booleans have no gradient
            return Tensor._make(self.data.astype(dtype))
        return ops.elementwise.Cast.apply(self, dtype=dtype)

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
        if isinstance(self.data, np.generic):  # a 0-d result of NumPy is an immutable scalar
            self.data = xp.asarray(self.data)
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
        if isinstance(self.data, np.generic):
            self.data = np.asarray(self.data)
        *views, last = ops.shape.torch_index_steps(ops.shape.raw_index(index))  # as x[index]
        target = self.data
        for step in views:
            target = target[step]
        target[last] = _raw(value)
        self._version += 1

    # --- operators ------------------------------------------------------------
    def __add__(self, other):
        return ops.elementwise.Add.apply(*_operands(self, other))

    def __radd__(self, other):
        return ops.elementwise.Add.apply(*_operands(self, other)[::-1])

    def __sub__(self, other):
        return ops.elementwise.Sub.apply(*_operands(self, other))

    def __rsub__(self, other):
        return ops.elementwise.Sub.apply(*_operands(self, other)[::-1])

    def __mul__(self, other):
        return ops.elementwise.Mul.apply(*_operands(self, other))

    def __rmul__(self, other):
        return ops.elementwise.Mul.apply(*_operands(self, other)[::-1])

    def __truediv__(self, other):
        return ops.elementwise.Div.apply(*_operands(self, other, floating=True))

    def __rtruediv__(self, other):
        return ops.elementwise.Div.apply(*_operands(self, other, floating=True)[::-1])

    def __neg__(self):
        return ops.elementwise.Neg.apply(self)

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            return ops.elementwise.Pow.apply(self, exponent)
        return ops.elementwise.PowScalar.apply(self, p=exponent)

    def __rpow__(self, base):
        return ops.elementwise.Pow.apply(*_operands(self, base)[::-1])

    def __matmul__(self, other):
        return ops.linalg.matmul(*_operands(self, other))

    def __rmatmul__(self, other):
        return ops.linalg.matmul(*_operands(self, other)[::-1])

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
        return ops.elementwise.clip(self, min, max)

    clamp = clip

    # reductions take NumPy's axis/keepdims or PyTorch's dim/keepdim (ops/reduce.py)
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.reduce.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.reduce.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def var(self, axis=None, *, keepdims=False, correction=None, dim=None, keepdim=None,
            unbiased=None):
        return ops.reduce.var(self, axis, keepdims=keepdims, correction=correction, dim=dim,
                              keepdim=keepdim, unbiased=unbiased)

    def std(self, axis=None, *, keepdims=False, correction=None, dim=None, keepdim=None,
            unbiased=None):
        return ops.reduce.std(self, axis, keepdims=keepdims, correction=correction, dim=dim,
                              keepdim=keepdim, unbiased=unbiased)

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.reduce.max(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def min(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.reduce.min(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmax(self, axis=None, *, dim=None, keepdim=False):
        return ops.reduce.argmax(self, axis, dim=dim, keepdim=keepdim)

    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.reduce.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def softmax(self, axis=-1):
        return ops.softmax.softmax(self, axis)

    def log_softmax(self, axis=-1):
        return ops.softmax.log_softmax(self, axis)

    def reshape(self, *shape):
        return ops.shape.reshape(self, shape_arg(shape))

    view = reshape

    def permute(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        if sorted(normalize_axis(a, self.ndim, 'permute') for a in axes) != list(range(self.ndim)):
            raise ValueError(f"permute: {tuple(axes)} is not a permutation of the "
                             f"{self.ndim} axes of a tensor of shape {self.shape}")
        return ops.shape.Permute.apply(self, axes=tuple(a % self.ndim for a in axes))

    def transpose(self, a=-2, b=-1):
        """Swap axes a and b (by default the last two, as for matrices)."""
        a, b = normalize_axis(a, self.ndim, 'transpose'), normalize_axis(b, self.ndim, 'transpose')
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return ops.shape.Permute.apply(self, axes=tuple(axes))

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


def _operands(t, x, floating=False):
    """Tensor `t` and a number, array or Tensor `x` as two Tensors on t's device.
    A number takes t's dtype, except that a float number meeting an integer tensor
    makes it float32, and so does true division of integers (PyTorch's rules; NumPy's
    would give float64). An array takes t's dtype when t is floating point."""
    if not isinstance(x, Tensor):
        if t.dtype.kind != 'f' and (floating or isinstance(x, (float, np.floating))):
            t = t.astype(backend.default_dtype)
        x = _as_operand(x, t)
    elif floating and t.dtype.kind != 'f' and x.dtype.kind != 'f':
        t, x = t.astype(backend.default_dtype), x.astype(backend.default_dtype)
    return t, x


def _as_operand(x, like):
    """A number or array as a Tensor on like's device, in like's dtype when like is
    floating point or x is a number (an int meeting a boolean tensor becomes int64)."""
    xp = backend.array_module(like.data)
    dtype = None
    if like.dtype.kind == 'f' or isinstance(x, (bool, np.bool_)):
        dtype = like.dtype
    elif isinstance(x, (int, np.integer)):
        dtype = np.int64 if like.dtype.kind == 'b' else like.dtype
    return Tensor._make(xp.asarray(x, dtype=dtype))


from . import function  # noqa: E402
function.Tensor = Tensor
from . import ops  # noqa: E402  (ops import Tensor from this module)
