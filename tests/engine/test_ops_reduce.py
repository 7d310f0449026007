"""Reductions (sum, mean, var, max, min, logsumexp), table-driven: each registry entry
draws its own arguments (axis as None, an int, a negative int or a tuple; keepdims)
for a drawn shape and gives the autograd call and its NumPy reference; one forward
test and one gradient test run the whole table."""
import warnings
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
from autograd.testing import (shapes, tensors, assert_forward_close,
                              assert_gradients_close)

Reduction = namedtuple('Reduction', 'name call ref unique')


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
    Reduction('sum', lambda x, a, k: x.sum(a, k), lambda x, a, k: x.sum(a, keepdims=k), False),
    Reduction('mean', lambda x, a, k: ag.mean(x, a, k), lambda x, a, k: x.mean(a, keepdims=k),
              False),
    Reduction('var', lambda x, a, k: x.var(a, keepdims=k, correction=0),
              lambda x, a, k: x.var(a, keepdims=k), False),
    Reduction('max', lambda x, a, k: x.max(a, k), lambda x, a, k: x.max(a, keepdims=k), True),
    Reduction('min', lambda x, a, k: x.min(a, k), lambda x, a, k: x.min(a, keepdims=k), True),
    Reduction('logsumexp', lambda x, a, k: x.logsumexp(a, k), np_logsumexp, False),
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


@pytest.mark.parametrize('r', REDUCTIONS, ids=ids)
@settings(max_examples=6)
@given(data=st.data())
def test_second_derivative_matches_finite_differences(r, device, data):
    """In x and in the upstream gradient: sum, mean, max and min are linear in x, and
    their backwards' graphs in g are checked."""
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


def test_var_with_nothing_left_after_the_correction_gives_nan_gradients_as_pytorch(device):
    """n = correction: the forward is NaN (NumPy, as PyTorch) and the backward NaN too,
    not a ZeroDivisionError."""
    x = ag.tensor([[1.0], [2.0]], dtype=np.float64, device=device, requires_grad=True)
    with warnings.catch_warnings():  # NumPy's "degrees of freedom <= 0", 0 * inf
        warnings.simplefilter('ignore', RuntimeWarning)
        y = x.var(axis=1)
        assert np.isnan(y.numpy()).all()
        y.sum().backward()
        assert np.isnan(x.grad.numpy()).all()
        x.grad = None
        x.std(correction=2).backward()
    assert np.isnan(x.grad.numpy()).all()


@given(data=st.data())
def test_std_matches_numpy_with_correction_or_unbiased_and_its_gradient(device, data):
    """Distinct values (a grid of step 0.05): std is far from 0, where it has a kink."""
    x = data.draw(tensors(shapes(min_dims=1, min_side=2), unique=True, noncontiguous=True,
                          device=device))
    axis, keepdims = data.draw(axes(x.ndim)), data.draw(st.booleans())
    correction = data.draw(st.sampled_from([0, 1]))
    assert_forward_close(lambda x: x.std(dim=axis, keepdim=keepdims, correction=correction),
                         lambda a: a.std(axis, ddof=correction, keepdims=keepdims), x)
    assert_forward_close(lambda x: ag.std(x, axis, unbiased=bool(correction)),
                         lambda a: a.std(axis, ddof=correction), x)
    assert_gradients_close(lambda x: x.std(axis, keepdims=keepdims, correction=correction), x,
                           gradgrad=True)


def test_std_of_a_constant_has_a_zero_gradient_as_pytorch(device):
    """d std = d var / (2 std) is 0/0 there; PyTorch returns 0."""
    x = ag.full((3,), 2.0, dtype=np.float64, device=device, requires_grad=True)
    x.std().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


def test_reductions_accept_pytorchs_dim_and_keepdim(device):
    x = ag.tensor([[1.0, 4.0, 2.0], [3.0, 0.0, 5.0]], dtype=np.float64, device=device)
    for name in ('sum', 'mean', 'var', 'std', 'logsumexp'):
        want = getattr(x, name)(1, keepdims=True)
        got = getattr(x, name)(dim=1, keepdim=True)
        assert got.shape == (2, 1)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert ag.mean(x, dim=0).tolist() == [2.0, 2.0, 3.5]
    assert x.argmax(dim=1).tolist() == [1, 2] and x.argmax(dim=1, keepdim=True).shape == (2, 1)
    with pytest.raises(TypeError, match=r"sum: give axis or dim, not both"):
        x.sum(0, dim=1)
    with pytest.raises(TypeError, match=r"var: give correction or unbiased, not both"):
        x.var(correction=0, unbiased=True)


def test_max_and_min_with_dim_return_values_and_indices_as_pytorch(device):
    """x.max(dim=1) is PyTorch's (values, indices): `x.max(dim=1)[0]` must be the values,
    never the first row; with axis= (NumPy's name) max returns the values alone."""
    x = ag.tensor([[1.0, 4.0, 2.0], [3.0, 0.0, 5.0]], dtype=np.float64, device=device,
                  requires_grad=True)
    values, indices = x.max(dim=1)
    assert values.tolist() == [4.0, 5.0] and indices.tolist() == [1, 2]
    assert x.max(dim=1).values.tolist() == x.max(axis=1).tolist()
    low = x.min(dim=0, keepdim=True)
    assert low.values.tolist() == [[1.0, 0.0, 2.0]] and low.indices.tolist() == [[0, 1, 0]]
    values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
