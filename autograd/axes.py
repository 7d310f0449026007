"""Axis and shape arguments, read as PyTorch reads them.

A negative axis counts from the end (-1 is the last); an axis out of range is an
IndexError that names the op it was given to. Reductions take None (all axes), one
axis or several, named `axis`/`keepdims` (NumPy) or `dim`/`keepdim` (PyTorch); shapes
come as separate numbers, zeros(2, 3), or as one tuple, zeros((2, 3)).
"""
import numpy as np


def normalize_axis(axis, ndim, op):
    """One axis as a non-negative int; out of range is an IndexError naming `op`."""
    if not -ndim <= axis < ndim:
        raise IndexError(f"{op}: axis {axis} is out of range for a tensor with {ndim} "
                         f"dimensions")
    return int(axis) % ndim


def normalize_axes(axis, ndim, op):
    """An axis argument of a reduction (None, an int or a sequence of ints) as a sorted
    tuple of non-negative axes, or None for all axes. A 0-d tensor accepts axis 0 or -1,
    as in PyTorch."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if ndim == 0:
        for a in axes:
            normalize_axis(a, 1, op)
        return None
    axes = tuple(sorted(normalize_axis(a, ndim, op) for a in axes))
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: axis {axis} repeats an axis")
    return axes


def reduction_args(op, axis, keepdims, dim, keepdim):
    """A reduction's axes and keepdims from NumPy's names (axis, keepdims) or PyTorch's
    (dim, keepdim); naming the axes both ways is a TypeError naming `op`."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: give axis or dim, not both")
        axis = dim
    return axis, keepdims if keepdim is None else keepdim


def shape_arg(shape):
    """The shape arguments of zeros(2, 3) and zeros((2, 3)) as one tuple."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
