"""Elementwise ops, table-driven (minitorch style): one registry of
(name, autograd function, NumPy reference, domain) feeds a forward test against
NumPy, a gradient test against central differences and a second-derivative test (in x
and in the upstream gradient). Inputs are float64, of drawn broadcast-compatible shapes
(size-1 axes and 0-d included), sometimes non-contiguous.

Every test that takes `device` gets the conftest fixture (cpu, and cuda where present)."""
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd as ag
from autograd.testing import operands, assert_forward_close, assert_gradients_close

Op = namedtuple('Op', 'name fn ref arity domain gradgrad')


def op(name, fn, ref, arity=1, gradgrad=True, **domain):
    """domain: keyword arguments of autograd.testing.operands (low, high, avoid, unique);
    gradgrad=False leaves an op out of the second-derivative test."""
    return Op(name, fn, ref, arity, domain, gradgrad)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_gelu(x):  # the tanh form (Hendrycks & Gimpel 2016), as minigen computes it
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


UNARY = [
    op('neg', lambda x: -x, np.negative),
    op('exp', ag.exp, np.exp),
    op('log', ag.log, np.log, low=0.2, high=4.0),
    op('sqrt', ag.sqrt, np.sqrt, low=0.2, high=4.0),
    op('abs', ag.abs, np.abs, avoid=(0.0,)),
    op('tanh', ag.tanh, np.tanh),
    op('sigmoid', ag.sigmoid, np_sigmoid, low=-6.0, high=6.0),
    op('relu', ag.relu, lambda x: np.maximum(x, 0), avoid=(0.0,)),
    op('leaky_relu', lambda x: ag.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
       avoid=(0.0,)),
    op('silu', ag.silu, lambda x: x * np_sigmoid(x), low=-5.0, high=5.0),
    op('gelu', ag.gelu, np_gelu, low=-4.0, high=4.0),
    op('softplus', ag.softplus, lambda x: np.logaddexp(0, x), low=-6.0, high=6.0),
    op('clip', lambda x: ag.clip(x, -0.5, 1.0), lambda x: np.clip(x, -0.5, 1.0),
       avoid=(-0.5, 1.0)),
    op('clip_min_only', lambda x: x.clip(min=0.25), lambda x: np.maximum(x, 0.25),
       avoid=(0.25,)),
    op('square', lambda x: x ** 2, np.square),
    op('cube', lambda x: x ** 3, lambda x: x ** 3),
    op('pow_half', lambda x: x ** 0.5, np.sqrt, low=0.2, high=4.0),
    op('reciprocal', lambda x: x ** -1, lambda x: 1 / x, avoid=(0.0,), margin=0.5),
    op('rpow', lambda x: 2.0 ** x, lambda x: 2.0 ** x),
    op('add_scalar', lambda x: x + 1.5, lambda x: x + 1.5),
    op('rsub_scalar', lambda x: 3 - x, lambda x: 3 - x),
    op('mul_scalar', lambda x: 2.5 * x, lambda x: 2.5 * x),
    op('rdiv_scalar', lambda x: 1 / x, lambda x: 1 / x, avoid=(0.0,), margin=0.5),
    op('div_scalar', lambda x: x / 4, lambda x: x / 4),
]

BINARY = [
    op('add', lambda x, y: x + y, np.add, 2),
    op('sub', lambda x, y: x - y, np.subtract, 2),
    op('mul', lambda x, y: x * y, np.multiply, 2),
    op('div', lambda x, y: x / y, np.divide, 2, avoid=(0.0,), margin=0.5),
    op('pow', lambda x, y: x ** y, np.power, 2, low=0.5, high=2.0),
    # a grid of step 0.05 makes ties exact, where the gradient splits in halves (so the
    # first gradient jumps there: the second-derivative test draws them apart, below)
    op('maximum', ag.maximum, np.maximum, 2, gradgrad=False, unique=True),
    op('minimum', ag.minimum, np.minimum, 2, gradgrad=False, unique=True),
    op('where', lambda x, y: ag.where(x.data > 0.3, x, y), lambda x, y: np.where(x > 0.3, x, y),
       2, avoid=(0.3,)),
]

OPS = UNARY + BINARY
ids = [o.name for o in OPS]
SECOND = [o for o in OPS if o.gradgrad]


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


@pytest.mark.parametrize('op', SECOND, ids=[o.name for o in SECOND])
@settings(max_examples=6)
@given(data=st.data())
def test_second_derivative_matches_finite_differences(op, device, data):
    """Over x and over the upstream gradient (gradgradcheck): every backward here is
    hand-written, the piecewise-linear ones too (their second derivative in x is 0, but
    the graph they record in g is checked)."""
    xs = data.draw(operands(op.arity, device=device, **op.domain))
    assert_gradients_close(op.fn, *xs, gradgrad=True)


@pytest.mark.parametrize('fn', [ag.maximum, ag.minimum], ids=['maximum', 'minimum'])
@settings(max_examples=6)
@given(data=st.data())
def test_maximum_and_minimum_second_derivatives_off_ties(fn, device, data):
    x, y = data.draw(operands(2, unique=True, device=device))
    assert_gradients_close(lambda x, y: fn(x, y + 0.025), x, y, gradgrad=True)


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


def test_pow_0_and_the_second_derivative_of_pow_1_are_exact_at_zero(device):
    """The power rule p x^(p-1) would give 0 * inf = NaN at x = 0; PyTorch gives 0."""
    x = ag.tensor([0.0, 1.5], dtype=np.float64, device=device, requires_grad=True)
    d0, = ag.grad((x ** 0).sum(), x)
    assert d0.tolist() == [0.0, 0.0]
    d1, = ag.grad((x ** 1).sum(), x, create_graph=True)
    dd1, = ag.grad(d1.sum(), x)
    assert d1.tolist() == [1.0, 1.0] and dd1.tolist() == [0.0, 0.0]


def np_clamp_grads(x, lo, hi):
    """PyTorch's clamp gradient masks: to x inside [lo, hi]; to lo where x < lo < hi;
    to hi where x > hi, or everywhere when hi < lo (then the result is hi)."""
    return ((x >= lo) & (x <= hi), (x < lo) & (lo < hi), (x > hi) | (hi < lo))


def sum_to(a, shape):
    """Undo broadcasting: sum a down to shape."""
    a = a.sum(axis=tuple(range(a.ndim - len(shape))))
    return a.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


@given(data=st.data())
def test_clamp_with_tensor_bounds_matches_numpy_and_sends_gradients_to_the_bounds(device, data):
    """Values on a grid of step 0.05, the bounds shifted off it by 0.0125 and 0.025: no
    two of x, lo and hi tie, so central differences see no kink."""
    x, lo, hi = data.draw(operands(3, unique=True, device=device))
    lo, hi = (lo + 0.0125).detach().requires_grad_(), (hi + 0.025).detach().requires_grad_()
    x.requires_grad_()
    y = x.clamp(lo, hi)
    np.testing.assert_array_equal(y.numpy(), np.minimum(np.maximum(x.numpy(), lo.numpy()),
                                                        hi.numpy()))
    g = np.random.default_rng(0).uniform(-1, 1, y.shape)
    grads = ag.grad(y, [x, lo, hi], ag.tensor(g, dtype=np.float64, device=device))
    masks = np_clamp_grads(*np.broadcast_arrays(x.numpy(), lo.numpy(), hi.numpy()))
    for got, mask, t in zip(grads, masks, (x, lo, hi)):
        np.testing.assert_allclose(got.numpy(), sum_to(g * mask, t.shape), atol=1e-12)
    assert_gradients_close(lambda x, lo, hi: ag.clip(x, min=lo, max=hi), x, lo, hi,
                           gradgrad=True)
    assert_gradients_close(lambda x, lo: ag.clip(x, min=lo), x, lo)
    assert_gradients_close(lambda x, hi: x.clip(max=hi), x, hi)


def test_clamp_with_tensor_bounds_at_ties_follows_pytorch(device):
    x = ag.tensor([1.0, 2.0, 0.0, 5.0], dtype=np.float64, device=device, requires_grad=True)
    lo = ag.tensor([1.0, 0.0, 1.0, 3.0], dtype=np.float64, device=device, requires_grad=True)
    hi = ag.tensor([2.0, 2.0, 1.0, 2.0], dtype=np.float64, device=device, requires_grad=True)
    y = ag.clip(x, lo, hi)
    assert y.tolist() == [1.0, 2.0, 1.0, 2.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert lo.grad.tolist() == [0.0, 0.0, 0.0, 0.0]
    assert hi.grad.tolist() == [0.0, 0.0, 0.0, 1.0]


def test_clamp_with_an_array_bound_keeps_the_tensor_dtype(device):
    x = ag.tensor([-1.0, 0.5, 3.0], device=device, requires_grad=True)
    y = x.clamp(np.zeros(3), ag.ones(3, device=device))
    assert y.dtype == np.float32 and y.tolist() == [0.0, 0.5, 1.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]


@given(data=st.data())
def test_gelu_fast_path_equals_its_reference_lines(device, data):
    """Gelu builds 0.5 x (1 + tanh(u)) in place and GeluGrad g * gelu'(x) from the kept
    tanh: the same numbers as the plain lines of `gelu_reference`, in float64."""
    from autograd.ops.elementwise import gelu_reference
    x, g = data.draw(operands(2, low=-5, high=5, input_shapes=st.just(((3, 4), (3, 4))),
                              device=device))
    x = x.detach().requires_grad_()
    y, dy_dx = gelu_reference(x.data)
    out = ag.gelu(x)
    out.backward(g)
    np.testing.assert_allclose(out.numpy(), ag.tensor(y).numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), ag.tensor(g.data * dy_dx).numpy(), rtol=1e-13,
                               atol=1e-15)


def test_tanh_and_gelu_backward_are_one_op_each(device):
    """Their VJPs are fused (TanhGrad, GeluGrad): one op per backward, not a chain."""
    from autograd.function import Function
    seen = []
    x = ag.randn(3, device=device, requires_grad=True)
    y = ag.gelu(ag.tanh(x)).sum()
    apply = Function.__dict__['apply']

    def counting(cls, *a, **k):
        seen.append(cls.__name__)
        return apply.__func__(cls, *a, **k)
    try:
        Function.apply = classmethod(counting)
        y.backward()
    finally:
        Function.apply = apply
    assert [n for n in seen if n not in ('Reshape', 'BroadcastTo')] == ['GeluGrad', 'TanhGrad'], \
        seen  # (Reshape and BroadcastTo: the sum's VJP)
