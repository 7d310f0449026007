"""Reductions (sum, mean, var, max, min, logsumexp), table-driven: each registry entry
draws its own arguments (axis as None, an int, a negative int or a tuple; keepdims)
for a drawn shape and gives the autograd call and its NumPy reference; one forward
test and one gradient test run the whole table."""
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
from autograd.testing import (shapes, tensors, assert_forward_close,
                              assert_gradients_close)

Reduction = namedtuple('Reduction', 'name call ref unique gradgrad')


def axes(ndim):
    """None, one axis (maybe negative) or a tuple of axes of a tensor with ndim axes."""
    if ndim == 0:
        return st.sampled_from([None, 0, -1])
    return st.none() | st.integers(-ndim, ndim - 1) | hnp.valid_tuple_axes(ndim, min_size=1)


def np_logsumexp(a, axis, keepdims):
    m = a.max(axis=axis, keepdims=True)
    out = np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


REDUCTIONS = [
    Reduction('sum', lambda x, a, k: x.sum(a, k), lambda x, a, k: x.sum(a, keepdims=k),
              False, False),
    Reduction('mean', lambda x, a, k: ag.mean(x, a, k), lambda x, a, k: x.mean(a, keepdims=k),
              False, False),
    Reduction('var', lambda x, a, k: x.var(a, k, correction=0),
              lambda x, a, k: x.var(a, keepdims=k), False, True),
    Reduction('max', lambda x, a, k: x.max(a, k), lambda x, a, k: x.max(a, keepdims=k),
              True, False),
    Reduction('min', lambda x, a, k: x.min(a, k), lambda x, a, k: x.min(a, keepdims=k),
              True, False),
    Reduction('logsumexp', lambda x, a, k: x.logsumexp(a, k), np_logsumexp, False, True),
]
ids = [r.name for r in REDUCTIONS]


def draw_case(data, r, device):
    x = data.draw(tensors(shapes(), unique=r.unique, noncontiguous=True, device=device))
    axis, keepdims = data.draw(axes(x.ndim)), data.draw(st.booleans())
    np_axis = axis if x.ndim else None  # NumPy refuses axis 0 of a 0-d array
    return x, (lambda x: r.call(x, axis, keepdims)), (lambda a: r.ref(a, np_axis, keepdims))


@pytest.mark.parametrize('r', REDUCTIONS, ids=ids)
@given(data=st.data())
def test_forward_matches_numpy(r, device, data):
    x, fn, ref = draw_case(data, r, device)
    assert_forward_close(fn, ref, x)


@pytest.mark.parametrize('r', REDUCTIONS, ids=ids)
@given(data=st.data())
def test_gradient_matches_finite_differences(r, device, data):
    x, fn, _ = draw_case(data, r, device)
    assert_gradients_close(fn, x)


@pytest.mark.parametrize('r', [r for r in REDUCTIONS if r.gradgrad],
                         ids=[r.name for r in REDUCTIONS if r.gradgrad])
@settings(max_examples=6)
@given(data=st.data())
def test_second_derivative_matches_finite_differences(r, device, data):
    x, fn, _ = draw_case(data, r, device)
    assert_gradients_close(fn, x, gradgrad=True)


@given(data=st.data())
def test_unbiased_var_divides_by_n_minus_one(device, data):
    x = data.draw(tensors(shapes(min_dims=1, min_side=2), device=device))
    axis = data.draw(axes(x.ndim))
    assert_forward_close(lambda x: x.var(axis), lambda a: a.var(axis, ddof=1), x)
    assert_gradients_close(lambda x: x.var(axis), x)


def test_max_and_min_split_the_gradient_evenly_over_ties(device):
    x = ag.tensor([[1.0, 3.0, 3.0, 3.0], [2.0, 0.0, 2.0, 1.0]], device=device, requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 1 / 3, 1 / 3, 1 / 3], [0, 0, 0, 0]])
    x.grad = None
    x.min(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1, 0, 0, 0], [0, 1, 0, 0]])
    x.grad = None
    x.max(axis=-1, keepdims=True).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 1 / 3, 1 / 3, 1 / 3], [0.5, 0, 0.5, 0]])


def test_logsumexp_is_stable_for_large_inputs(device):
    x = ag.tensor([[1000.0, 1000.0], [-1000.0, -1000.0]], device=device, dtype=np.float64)
    np.testing.assert_allclose(x.logsumexp(axis=1).numpy(), [1000 + np.log(2), -1000 + np.log(2)])


def test_reducing_a_0d_tensor_over_axis_0_or_minus_1_returns_it(device):
    x = ag.tensor(2.5, device=device, requires_grad=True)
    for axis in (0, -1, None):
        assert x.sum(axis).item() == 2.5 and x.mean(axis, keepdims=True).shape == ()
    x.max(0).backward()
    assert x.grad.item() == 1.0


def test_reduction_axis_errors_name_the_op_and_the_axis(device):
    x = ag.zeros(2, 3, device=device)
    with pytest.raises(IndexError, match=r"sum: axis 2 is out of range .* 2 dimensions"):
        x.sum(2)
    with pytest.raises(IndexError, match=r"mean: axis -3"):
        x.mean(-3)
    with pytest.raises(ValueError, match=r"max: axis \(1, -1\) repeats"):
        x.max((1, -1))
