"""Property-test a differentiable op in a few lines: hypothesis strategies and assertions.

Every op of minigen is tested by one recipe, public here so that you can test your own:

    draw shapes         broadcast-compatible ones for ops of several inputs, size-1
                        axes and missing leading axes included
    draw values         float64 in [low, high], at least `margin` away from the points
                        listed in `avoid` (the kink of relu at 0, the pole of 1/x at 0),
                        distinct by `margin` when ties matter (max), and optionally laid
                        out non-contiguously in memory
    check forward       op(x) == reference(x), a plain NumPy formula
    check backward      op's vector-Jacobian product == central differences
                        (autograd.gradcheck: float64, random upstream gradient), and
                        optionally the backward's own (gradgradcheck, in x and in g)

The strategies build on `hypothesis.extra.numpy` (`array_shapes`, `arrays`,
`mutually_broadcastable_shapes`), as MyGrad's test suite does; `op_test` bundles the
recipe into one pytest test, in the spirit of MyGrad's `backprop_test_factory`:

    test_cube = op_test(lambda x: x ** 3, lambda x: x ** 3)

This module needs hypothesis and pytest (test dependencies); `import autograd` does not
import it.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from . import backend
from .gradcheck import gradcheck, gradgradcheck
from .tensor import Tensor

# The device parameter of a test: 'cuda' runs where CuPy sees a GPU and skips elsewhere.
DEVICES = [pytest.param('cpu'),
           pytest.param('cuda', marks=pytest.mark.skipif(not backend.gpu_available(),
                                                         reason='CUDA needs CuPy and a GPU'))]


# --- shapes ---------------------------------------------------------------------
def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes, small by default (0-d included), so full gradient checks stay fast."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Tuples of `num_shapes` shapes that broadcast together, e.g. ((3, 1), (2, 1, 4))."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side).map(lambda result: result.input_shapes)


# --- values ---------------------------------------------------------------------
def elements(low=-2.0, high=2.0, avoid=(), margin=0.05, unique=False):
    """Floats in [low, high], each at least `margin` from every point in `avoid`.
    With `unique`, values come from a grid of step `margin`, so distinct values differ
    by at least `margin`: a finite-difference step can never turn them into a tie."""
    if unique:
        values = st.integers(0, int((high - low) / margin)).map(lambda k: low + k * margin)
    else:
        values = st.floats(low, high, allow_nan=False, allow_infinity=False)
    if avoid:
        values = values.filter(lambda v: all(abs(v - a) >= margin for a in avoid))
    return values


def arrays(shape, low=-2.0, high=2.0, avoid=(), margin=0.05, unique=False, dtype=np.float64):
    """NumPy arrays of `shape` (a tuple or a strategy of tuples) with `elements(...)`."""
    return hnp.arrays(np.dtype(dtype), shape,
                      elements=elements(low, high, avoid, margin, unique), unique=unique)


def _noncontiguous(a, order, xp):
    """The values of `a` stored in axis order `order`, in every other slot of memory."""
    buf = xp.zeros(tuple(a.shape[i] for i in order) + (2,), a.dtype)
    buf[..., 0] = a.transpose(order)
    return buf[..., 0].transpose(tuple(int(i) for i in np.argsort(order)))


@st.composite
def tensors(draw, shape, low=-2.0, high=2.0, avoid=(), margin=0.05, unique=False,
            noncontiguous=False, dtype=np.float64, device='cpu', requires_grad=False):
    """Tensors on `device` whose values are drawn as by `arrays`. With `noncontiguous`
    half of them come in a drawn axis order with a stride gap, as the outputs of
    permute and slicing do, so ops that assume C order are caught."""
    a = draw(arrays(shape, low, high, avoid, margin, unique, dtype))
    data = backend.xp_for(device).asarray(a)
    if noncontiguous and a.ndim and draw(st.booleans()):
        data = _noncontiguous(data, draw(st.permutations(range(a.ndim))), backend.xp_for(device))
    return Tensor._make(data).requires_grad_(requires_grad)


@st.composite
def operands(draw, arity=1, low=-2.0, high=2.0, avoid=(), margin=0.05, unique=False,
             input_shapes=None, device='cpu'):
    """A list of `arity` tensors for an op: shapes from `input_shapes` (a strategy of
    tuples of shapes; default `broadcastable_shapes(arity)`), values from `tensors`,
    non-contiguous half of the time."""
    shape_tuple = draw(input_shapes if input_shapes is not None else broadcastable_shapes(arity))
    return [draw(tensors(s, low, high, avoid, margin, unique, noncontiguous=True, device=device))
            for s in shape_tuple]


# --- assertions -----------------------------------------------------------------
def assert_forward_close(fn, reference, *inputs, rtol=1e-7, atol=1e-10):
    """fn on Tensors agrees with `reference` on their NumPy arrays (same shape too)."""
    got = fn(*inputs)
    want = np.asarray(reference(*[x.numpy() if isinstance(x, Tensor) else x for x in inputs]))
    assert got.shape == want.shape, f"forward: shape {got.shape}, reference {want.shape}"
    np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=atol,
                               err_msg="forward differs from the NumPy reference")


def assert_gradients_close(fn, *inputs, mode='full', atol=1e-7, rtol=1e-5, gradgrad=False):
    """fn's gradients (of every float input) match central differences in float64;
    with `gradgrad`, its second derivatives too (create_graph=True), in the inputs and in
    the upstream gradient (gradgradcheck). Raises an AssertionError naming the input, the
    worst index, the analytic and numeric values."""
    gradcheck(fn, inputs, mode=mode, atol=atol, rtol=rtol)
    if gradgrad:
        gradgradcheck(fn, inputs, mode=mode)


def op_test(fn, reference, arity=1, low=-2.0, high=2.0, avoid=(), margin=0.05, unique=False,
            input_shapes=None, gradgrad=False, max_examples=None, rtol=1e-7, atol=1e-10):
    """A pytest test (on every device) of a differentiable op of `arity` Tensors: for
    drawn inputs, the forward matches `reference` (NumPy) and the gradients match
    central differences (and second derivatives when `gradgrad`).

    input_shapes: a strategy of tuples of `arity` shapes (default: `broadcastable_shapes`).
    Use it as a module-level assignment:  test_my_op = op_test(my_op, numpy_formula)
    """
    @pytest.mark.parametrize('device', DEVICES)
    @given(data=st.data())
    def test(device, data):
        xs = data.draw(operands(arity, low, high, avoid, margin, unique, input_shapes, device),
                       label='inputs')
        assert_forward_close(fn, reference, *xs, rtol=rtol, atol=atol)
        assert_gradients_close(fn, *xs, gradgrad=gradgrad)

    return settings(max_examples=max_examples)(test) if max_examples else test
