"""Elementwise ops, table-driven (minitorch style): one registry of
(name, autograd function, NumPy reference, domain) feeds a forward test against
NumPy, a gradient test against central differences and, for the smooth ops, a
second-derivative test. Inputs are float64, of drawn broadcast-compatible shapes
(size-1 axes and 0-d included), sometimes non-contiguous.

Every test that takes `device` gets the conftest fixture (cpu, and cuda where present)."""
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd as ag
from autograd.testing import operands, assert_forward_close, assert_gradients_close

Op = namedtuple('Op', 'name fn ref arity domain gradgrad')


def op(name, fn, ref, arity=1, gradgrad=False, **domain):
    """domain: keyword arguments of autograd.testing.operands (low, high, avoid, unique)."""
    return Op(name, fn, ref, arity, domain, gradgrad)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_gelu(x):  # the tanh form (Hendrycks & Gimpel 2016), as minigen computes it
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


UNARY = [
    op('neg', lambda x: -x, np.negative),
    op('exp', ag.exp, np.exp, gradgrad=True),
    op('log', ag.log, np.log, low=0.2, high=4.0, gradgrad=True),
    op('sqrt', ag.sqrt, np.sqrt, low=0.2, high=4.0, gradgrad=True),
    op('abs', ag.abs, np.abs, avoid=(0.0,)),
    op('tanh', ag.tanh, np.tanh, gradgrad=True),
    op('sigmoid', ag.sigmoid, np_sigmoid, low=-6.0, high=6.0, gradgrad=True),
    op('relu', ag.relu, lambda x: np.maximum(x, 0), avoid=(0.0,)),
    op('leaky_relu', lambda x: ag.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
       avoid=(0.0,)),
    op('silu', ag.silu, lambda x: x * np_sigmoid(x), low=-5.0, high=5.0, gradgrad=True),
    op('gelu', ag.gelu, np_gelu, low=-4.0, high=4.0, gradgrad=True),
    op('softplus', ag.softplus, lambda x: np.logaddexp(0, x), low=-6.0, high=6.0,
       gradgrad=True),
    op('clip', lambda x: ag.clip(x, -0.5, 1.0), lambda x: np.clip(x, -0.5, 1.0),
       avoid=(-0.5, 1.0)),
    op('clip_min_only', lambda x: x.clip(min=0.25), lambda x: np.maximum(x, 0.25),
       avoid=(0.25,)),
    op('square', lambda x: x ** 2, np.square, gradgrad=True),
    op('cube', lambda x: x ** 3, lambda x: x ** 3, gradgrad=True),
    op('pow_half', lambda x: x ** 0.5, np.sqrt, low=0.2, high=4.0, gradgrad=True),
    op('reciprocal', lambda x: x ** -1, lambda x: 1 / x, avoid=(0.0,), margin=0.5),
    op('rpow', lambda x: 2.0 ** x, lambda x: 2.0 ** x, gradgrad=True),
    op('add_scalar', lambda x: x + 1.5, lambda x: x + 1.5),
    op('rsub_scalar', lambda x: 3 - x, lambda x: 3 - x),
    op('mul_scalar', lambda x: 2.5 * x, lambda x: 2.5 * x),
    op('rdiv_scalar', lambda x: 1 / x, lambda x: 1 / x, avoid=(0.0,), margin=0.5),
    op('div_scalar', lambda x: x / 4, lambda x: x / 4),
]

BINARY = [
    op('add', lambda x, y: x + y, np.add, 2),
    op('sub', lambda x, y: x - y, np.subtract, 2),
    op('mul', lambda x, y: x * y, np.multiply, 2, gradgrad=True),
    op('div', lambda x, y: x / y, np.divide, 2, avoid=(0.0,), margin=0.5, gradgrad=True),
    op('pow', lambda x, y: x ** y, np.power, 2, low=0.5, high=2.0, gradgrad=True),
    # a grid of step 0.05 makes ties exact, where the gradient splits in halves
    op('maximum', ag.maximum, np.maximum, 2, unique=True),
    op('minimum', ag.minimum, np.minimum, 2, unique=True),
    op('where', lambda x, y: ag.where(x.data > 0.3, x, y), lambda x, y: np.where(x > 0.3, x, y),
       2, avoid=(0.3,)),
]

OPS = UNARY + BINARY
ids = [o.name for o in OPS]
SMOOTH = [o for o in OPS if o.gradgrad]


@pytest.mark.parametrize('op', OPS, ids=ids)
@given(data=st.data())
def test_forward_matches_numpy(op, device, data):
    xs = data.draw(operands(op.arity, device=device, **op.domain))
    assert_forward_close(op.fn, op.ref, *xs)


@pytest.mark.parametrize('op', OPS, ids=ids)
@given(data=st.data())
def test_gradient_matches_finite_differences(op, device, data):
    xs = data.draw(operands(op.arity, device=device, **op.domain))
    assert_gradients_close(op.fn, *xs)


@pytest.mark.parametrize('op', SMOOTH, ids=[o.name for o in SMOOTH])
@settings(max_examples=6)
@given(data=st.data())
def test_second_derivative_matches_finite_differences(op, device, data):
    xs = data.draw(operands(op.arity, device=device, **op.domain))
    assert_gradients_close(op.fn, *xs, gradgrad=True)


def test_float32_stays_float32_through_ops_with_python_scalars(device):
    x = ag.randn(3, device=device)
    for y in (x + 1, 2.5 * x, x / 3, 1 - x, x ** 2, 2 ** x, ag.maximum(x, 0.5),
              ag.where(x.data > 0, x, 0.0), x.clip(-1, 1), ag.gelu(x), ag.silu(x)):
        assert y.dtype == np.float32


def test_python_float_promotes_an_integer_tensor_to_float32(device):
    i = ag.arange(4, device=device)
    assert (i * 2.5).dtype == np.float32
    np.testing.assert_allclose((i * 2.5).numpy(), [0, 2.5, 5, 7.5])
    assert (i + 1).dtype == np.int64
    mask = ag.tensor([True, False], device=device)
    assert (mask + 1).dtype == np.int64 and (mask + 1).tolist() == [2, 1]


def test_maximum_splits_the_gradient_of_a_tie_in_halves(device):
    x = ag.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = ag.tensor([1.0, 5.0, 0.0], device=device, requires_grad=True)
    ag.maximum(x, y).sum().backward()
    assert x.grad.tolist() == [0.5, 0.0, 1.0] and y.grad.tolist() == [0.5, 1.0, 0.0]


def test_sigmoid_and_softplus_do_not_overflow_at_extreme_inputs(device):
    x = ag.tensor([-1000.0, 0.0, 1000.0], device=device, dtype=np.float64, requires_grad=True)
    with ag.detect_anomaly():
        ag.sigmoid(x).sum().backward()
        np.testing.assert_allclose(ag.softplus(x).numpy(), [0.0, np.log(2), 1000.0])
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.25, 0.0])


def test_comparisons_give_boolean_tensors_outside_the_graph(device):
    x = ag.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    for mask, want in ((x > 2, [0, 0, 1]), (x >= 2, [0, 1, 1]), (x < 2, [1, 0, 0]),
                       (x <= 2, [1, 1, 0]), (x.eq(2), [0, 1, 0])):
        assert mask.dtype == np.bool_ and not mask.requires_grad
        assert mask.numpy().astype(int).tolist() == want
