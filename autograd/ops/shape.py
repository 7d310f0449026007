"""Shape ops: reshape, permute, broadcast_to, indexing, cat/stack/split, pad, device moves.

Indexing follows PyTorch where it differs from NumPy (ints mixed with arrays place the
arrays' dimensions differently: torch_index_steps), and so do gather (an index smaller
than x) and split/chunk of an empty axis.

None of these computes anything, so each VJP moves the gradient back to where
its element came from: reshape back, permute by the inverse permutation,
sum over broadcast copies, scatter-add into the indexed positions, slice out
each concatenated piece, crop off the padding.
"""
import math

import numpy as np

from .. import backend
from ..backend import array_module
from ..function import Function, expect_tensors
from ..tensor import Tensor, normalize_axis


class Reshape(Function):
    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, g):
        return g.reshape(self.in_shape)


def reshape(x, shape):
    expect_tensors('reshape', x)
    shape = tuple(int(n) for n in shape)
    known = math.prod(n for n in shape if n != -1)
    if shape.count(-1) == 1 and known > 0 and x.size % known == 0:  # -1 takes what is left
        shape = tuple(x.size // known if n == -1 else n for n in shape)
    if math.prod(shape) != x.size or any(n < 0 for n in shape):
        raise ValueError(f"reshape: cannot view a tensor of shape {x.shape} "
                         f"({x.size} elements) as {shape}")
    if shape == x.shape:
        return x
    return Reshape.apply(x, shape=shape)


class Permute(Function):
    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, g):  # undo with the inverse permutation
        return g.permute(tuple(np.argsort(self.axes)))


class BroadcastTo(Function):
    def forward(self, x):
        self.in_shape = x.shape
        try:
            return array_module(x).broadcast_to(x, self.shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} "
                             f"to {self.shape}") from None

    def backward(self, g):  # the engine sums the copies back to in_shape
        return g


def squeeze(x, axis=None):
    """Drop size-1 axes (all of them, or those of `axis` that have size 1)."""
    expect_tensors('squeeze', x)
    if axis is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        axes = {normalize_axis(a, x.ndim, 'squeeze')
                for a in ((axis,) if isinstance(axis, (int, np.integer)) else axis)}
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1))
    return reshape(x, shape)


def unsqueeze(x, axis):
    """Insert a size-1 axis so that it becomes axis `axis` of the result."""
    expect_tensors('unsqueeze', x)
    axis = normalize_axis(axis, x.ndim + 1, 'unsqueeze')
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes start_dim..end_dim (inclusive) into one."""
    expect_tensors('flatten', x)
    if x.ndim == 0:
        return reshape(x, (1,))
    start = normalize_axis(start_dim, x.ndim, 'flatten')
    end = normalize_axis(end_dim, x.ndim, 'flatten')
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(x, x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:])


# --- indexing --------------------------------------------------------------------
def raw_index(index):
    """Turn Tensors inside an index into raw arrays."""
    if isinstance(index, tuple):
        return tuple(raw_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_int(part):
    """An int index, or a 0-d integer array (PyTorch reads both as a select)."""
    if isinstance(part, (bool, np.bool_)):
        return False
    return isinstance(part, (int, np.integer)) or (
        getattr(part, 'ndim', None) == 0 and part.dtype.kind in 'iu')


def _is_array(part):
    return getattr(part, 'ndim', 0) > 0


def torch_index_steps(index):
    """An index read as PyTorch reads it, as one or two NumPy indices applied in turn.

    The rules differ only where ints and arrays are mixed. PyTorch applies the ints first
    (a select) and then places the arrays' dimensions by NumPy's rule for arrays alone
    (where the arrays are if they are adjacent, else first); NumPy counts the ints among
    the arrays, so for x of shape (5, 3, 2, 4), x[:, [0, 1], :, 0] is (5, 2, 2) in
    PyTorch, (2, 5, 2) in NumPy. Then the steps are (basic, advanced): the ints, slices,
    None and Ellipsis first (a view), then the arrays, with full slices elsewhere."""
    parts = index if isinstance(index, tuple) else (index,)
    if not (any(_is_int(p) for p in parts) and any(_is_array(p) for p in parts)):
        return (index,)
    basic, advanced = [], []
    for p in parts:
        if _is_int(p):
            basic.append(int(p))
        elif _is_array(p):  # a boolean mask covers as many axes as it has
            basic.extend([slice(None)] * (p.ndim if p.dtype.kind == 'b' else 1))
            advanced.append(p)
        elif p is Ellipsis:
            basic.append(p)
            advanced.append(p)
        else:  # a slice or None: one axis of the view
            basic.append(p)
            advanced.append(slice(None))
    return tuple(basic), tuple(advanced)


def _has_int_array(index):
    """Integer-array indexing may pick an element twice (so its gradient must add up)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(getattr(p, 'ndim', 0) > 0 and p.dtype.kind in 'iu' for p in parts)


def _on_device(index, xp):
    """Move array parts of an index onto the array's device."""
    if isinstance(index, tuple):
        return tuple(_on_device(i, xp) for i in index)
    return xp.asarray(index) if hasattr(index, 'dtype') else index


class GetItem(Function):
    """x[index] for ints, slices, None, Ellipsis, integer arrays and boolean masks."""

    def forward(self, x):
        self.in_shape = x.shape
        self.index = _on_device(self.index, array_module(x))
        try:
            return x[self.index]
        except IndexError as e:
            raise IndexError(f"getitem: {e} (tensor of shape {x.shape})") from None

    def backward(self, g):  # scatter g back into zeros of x's shape
        return IndexAdd.apply(g, index=self.index, shape=self.in_shape)


class IndexAdd(Function):
    """zeros(shape) with g added at `index` (repeated indices accumulate)."""

    def forward(self, g):
        xp = array_module(g)
        out = xp.zeros(self.shape, g.dtype)
        if _has_int_array(self.index):
            xp.add.at(out, self.index, g)  # unbuffered: a repeated index adds up
        else:
            out[self.index] = g
        return out

    def backward(self, gg):  # the adjoint of scattering is gathering
        return GetItem.apply(gg, index=self.index)


def getitem(x, index):
    """x[index], with PyTorch's placement of advanced-index dimensions (torch_index_steps)."""
    for step in torch_index_steps(raw_index(index)):
        x = GetItem.apply(x, index=step)
    return x


class Gather(Function):
    """out[..., i, ...] = x[..., index[..., i, ...], ...] along `axis` (torch.gather), for
    every position of the index: off the gather axis the index may be smaller than x,
    and x is cut to its extent (never broadcast against it)."""

    def forward(self, x):
        self.in_shape = x.shape
        extent = tuple(slice(None) if a == self.axis else slice(0, n)
                       for a, n in enumerate(self.index.shape))
        return array_module(x).take_along_axis(x[extent], self.index, axis=self.axis)

    def backward(self, g):
        return ScatterAdd.apply(g, index=self.index, axis=self.axis, shape=self.in_shape)


class ScatterAdd(Function):
    """zeros(shape) with out[..., index[..., i, ...], ...] += g[..., i, ...] along `axis`."""

    def forward(self, g):
        xp = array_module(g)
        out = xp.zeros(self.shape, g.dtype)
        ndim = self.index.ndim  # every other axis is indexed by its own position
        where = [xp.arange(n).reshape((1,) * a + (n,) + (1,) * (ndim - a - 1))
                 for a, n in enumerate(self.index.shape)]
        where[self.axis] = self.index
        xp.add.at(out, tuple(where), g)
        return out

    def backward(self, gg):
        return Gather.apply(gg, index=self.index, axis=self.axis)


def gather(x, axis, index):
    """torch.gather: index has x's number of dimensions and holds integers."""
    expect_tensors('gather', x)
    index = index.data if isinstance(index, Tensor) else array_module(x.data).asarray(index)
    if index.ndim != x.ndim or index.dtype.kind not in 'iu':
        raise ValueError(f"gather: index must be an integer array with x's {x.ndim} "
                         f"dimensions, got {index.dtype} of shape {index.shape}")
    axis = normalize_axis(axis, x.ndim, 'gather')
    for a, (n, m) in enumerate(zip(index.shape, x.shape)):
        if a != axis and n > m:
            raise ValueError(f"gather: index of shape {index.shape} is larger than the input "
                             f"{x.shape} along axis {a} (only the gather axis {axis} may differ)")
    return Gather.apply(x, axis=axis, index=index)


# --- joining and splitting ---------------------------------------------------------
class Cat(Function):
    def forward(self, *xs):
        shapes = [x.shape for x in xs]
        ref = list(shapes[0])
        for s in shapes[1:]:
            if len(s) != len(ref) or any(a != b for i, (a, b) in enumerate(zip(s, ref))
                                         if i != self.axis):
                raise ValueError(f"cat: shapes {shapes} differ outside axis {self.axis}")
        self.sizes = [s[self.axis] for s in shapes]
        return array_module(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, g):  # each input gets its own slice of g
        return tuple(split(g, self.sizes, self.axis))


def cat(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: needs at least one tensor")
    expect_tensors('cat', *tensors)
    return Cat.apply(*tensors, axis=normalize_axis(axis, tensors[0].ndim, 'cat'))


def stack(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    expect_tensors('stack', *tensors)
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
    axis = normalize_axis(axis, tensors[0].ndim + 1, 'stack')
    return cat([unsqueeze(t, axis) for t in tensors], axis)


def split(x, size_or_sizes, axis=0):
    """Pieces of x along `axis`: equal pieces of a given size (the last may be
    smaller), or a list of sizes."""
    expect_tensors('split', x)
    axis = normalize_axis(axis, x.ndim, 'split')
    n = x.shape[axis]
    if isinstance(size_or_sizes, (int, np.integer)):
        if size_or_sizes <= 0 and not (size_or_sizes == 0 and n == 0):
            raise ValueError(f"split: piece size must be positive, got {size_or_sizes}")
        # an empty axis is one empty piece, as torch.split
        sizes = [min(size_or_sizes, n - i) for i in range(0, n, size_or_sizes)] if n else [0]
    else:
        sizes = list(size_or_sizes)
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {sizes} do not add up to {n} along axis {axis}")
    pieces, start = [], 0
    for s in sizes:
        index = (slice(None),) * axis + (slice(start, start + s),)
        pieces.append(getitem(x, index))
        start += s
    return pieces


def chunk(x, chunks, axis=0):
    """At most `chunks` pieces of equal size along `axis` (torch.chunk); an empty axis
    gives `chunks` empty pieces, as torch.chunk does."""
    expect_tensors('chunk', x)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[normalize_axis(axis, x.ndim, 'chunk')]
    if n == 0:
        return split(x, [0] * chunks, axis)
    return split(x, -(-n // chunks), axis)


class Pad(Function):
    """Constant padding; `widths` is NumPy's ((before, after), ...) per axis."""

    def forward(self, x):
        return array_module(x).pad(x, self.widths, constant_values=self.value)

    def backward(self, g):  # crop the padding off again
        index = tuple(slice(b, g.shape[i] - a) for i, (b, a) in enumerate(self.widths))
        return getitem(g, index)


def pad(x, pad, value=0.0):
    """PyTorch's convention: `pad` lists (before, after) pairs from the LAST axis backward,
    e.g. pad(x, (1, 1, 2, 2)) pads the last axis by 1 and the one before by 2."""
    expect_tensors('pad', x)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected pairs for at most {x.ndim} axes, got {pad}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative padding {pad} is not supported")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return Pad.apply(x, widths=tuple(widths), value=value)


class ToDevice(Function):
    def forward(self, x):
        self.source = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, g):
        return g.to(self.source)


def embedding(indices, weight):
    """Rows of `weight` picked by integer `indices` (any shape): weight[indices].
    Its gradient scatter-adds into the picked rows, so a repeated index sums."""
    expect_tensors('embedding', weight)
    idx = indices.data if isinstance(indices, Tensor) else indices
    if getattr(idx, 'dtype', np.dtype('f')).kind not in 'iu':
        raise TypeError(f"embedding: indices must be integers, got {getattr(idx, 'dtype', type(idx))}")
    return getitem(weight, idx)
