"""Softmax and log-softmax along a drawn axis: forward against the NumPy formula,
gradient and second derivative against finite differences (a random upstream
gradient: the gradient of sum(softmax) is 0, so a plain .sum() would prove nothing),
and stability at large inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd as ag
from autograd.testing import shapes, tensors, assert_forward_close, assert_gradients_close


def np_log_softmax(a, axis):
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


CASES = {'softmax': (ag.softmax, lambda a, axis: np.exp(np_log_softmax(a, axis))),
         'log_softmax': (ag.log_softmax, np_log_softmax)}


def draw_case(data, name, device):
    x = data.draw(tensors(shapes(min_dims=1), low=-5, high=5, noncontiguous=True, device=device))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    fn, ref = CASES[name]
    return x, (lambda x: fn(x, axis)), (lambda a: ref(a, axis))


@pytest.mark.parametrize('name', CASES)
@given(data=st.data())
def test_forward_and_gradient_match_numpy_and_finite_differences(name, device, data):
    x, fn, ref = draw_case(data, name, device)
    assert_forward_close(fn, ref, x)
    assert_gradients_close(fn, x)


@pytest.mark.parametrize('name', CASES)
@settings(max_examples=6)
@given(data=st.data())
def test_second_derivative_matches_finite_differences(name, device, data):
    x, fn, _ = draw_case(data, name, device)
    assert_gradients_close(fn, x, gradgrad=True)


def test_softmax_is_stable_and_sums_to_one_for_huge_logits(device):
    x = ag.tensor([[1000.0, 0.0, -1000.0], [5e4, 5e4, 5e4]], device=device)
    with ag.detect_anomaly():
        y = x.softmax(axis=-1)
        logp = x.log_softmax(axis=1)
    np.testing.assert_allclose(y.numpy(), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-6)
    np.testing.assert_allclose(logp.numpy()[0], [0, -1000, -2000], atol=1e-3)


def test_softmax_axis_error_names_the_op(device):
    with pytest.raises(IndexError, match="softmax: axis 2 is out of range"):
        ag.zeros(2, 3, device=device).softmax(axis=2)


def test_softmax_accepts_pytorchs_dim_keyword():
    x = ag.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(ag.softmax(x, dim=0).numpy(), ag.softmax(x, axis=0).numpy())
    np.testing.assert_array_equal(ag.log_softmax(x, dim=0).numpy(),
                                  ag.log_softmax(x, axis=0).numpy())
