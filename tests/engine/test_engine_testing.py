"""autograd.testing keeps its promises: drawn shapes broadcast together, values stay in
their bounds and away from the listed kinks, unique values are a margin apart,
non-contiguous layouts really occur (with the same values), and op_test fails an op
whose forward or backward is wrong."""
import numpy as np
import pytest
from hypothesis import given, find, strategies as st

import autograd as ag
from autograd.gradcheck import GradcheckError
from autograd.testing import (broadcastable_shapes, shapes, tensors, operands, op_test,
                              assert_forward_close)


@given(broadcastable_shapes(num_shapes=3))
def test_broadcastable_shapes_broadcast_together(input_shapes):
    assert len(input_shapes) == 3
    np.broadcast_shapes(*input_shapes)


@given(tensors(shapes(), low=-1.0, high=3.0, avoid=(0.0, 2.0), margin=0.1))
def test_tensor_values_stay_in_bounds_and_away_from_kinks(x):
    a = x.numpy()
    assert x.dtype == np.float64 and not x.requires_grad
    assert ((-1.0 <= a) & (a <= 3.0)).all()
    assert (np.abs(a) >= 0.1).all() and (np.abs(a - 2.0) >= 0.1).all()


@given(tensors(shapes(min_dims=1), unique=True, margin=0.05))
def test_unique_values_differ_by_at_least_the_margin(x):
    a = np.sort(x.numpy().ravel())
    assert (np.diff(a) >= 0.05 - 1e-12).all()


def test_noncontiguous_tensors_occur_and_hold_the_drawn_values():
    x = find(tensors(shapes(min_dims=2, min_side=2), noncontiguous=True),
             lambda t: not t.data.flags.c_contiguous)
    assert np.array_equal(np.ascontiguousarray(x.data), x.numpy())
    assert (x * 1).numpy().tolist() == x.numpy().tolist()


@given(operands(2, device='cpu', low=0.5, high=1.0))
def test_operands_are_broadcastable_tensors(xs):
    a, b = xs
    assert (a + b).shape == np.broadcast_shapes(a.shape, b.shape)


def test_assert_forward_close_compares_shape_and_values():
    x = ag.ones(2, 3)
    assert_forward_close(lambda x: x * 2, lambda a: a * 2, x)
    with pytest.raises(AssertionError, match="shape"):
        assert_forward_close(lambda x: x.sum(0), lambda a: a.sum(), x)
    with pytest.raises(AssertionError, match="reference"):
        assert_forward_close(lambda x: x * 2, lambda a: a * 3, x)


class WrongExpGrad(ag.Function):
    def forward(self, x):
        return np.exp(x)

    def backward(self, g):  # wrong: d e^x = e^x, not x
        x, = self.inputs
        return g * x


def test_op_test_fails_an_op_with_a_wrong_backward():
    with pytest.raises(GradcheckError, match="analytic .* numeric"):
        op_test(WrongExpGrad.apply, np.exp)('cpu')


def test_op_test_fails_an_op_with_a_wrong_forward():
    with pytest.raises(AssertionError, match="NumPy reference"):
        op_test(lambda x: x.tanh(), np.sin)('cpu')


def test_op_test_passes_a_correct_op_with_drawn_domains_and_shapes():
    op_test(lambda x, y: x.log() * y, lambda a, b: np.log(a) * b, arity=2, low=0.5, high=3.0,
            input_shapes=st.just(((2, 1), (3,))))('cpu')
