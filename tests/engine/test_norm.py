"""group_norm, layer_norm, batch_norm: forward against NumPy formulas, the fused
closed-form backward against the composed version (mean, var, sqrt, ... recorded
as separate engine ops) and against central differences, the fused section of
norm.py against Normalize's plain lines (Normalize.fast = False), second derivatives
(create_graph), batch norm's running statistics, float32, and every bad input.
Every test takes `device` from the conftest fixture, @given ones included."""
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd as ag
import minigen.nn.functional as F
from autograd.ops import norm
from autograd.testing import tensors, assert_forward_close, assert_gradients_close

EPS = 1e-5


def np_normalize(a, axes, gamma, beta):
    xhat = (a - a.mean(axes, keepdims=True)) / np.sqrt(a.var(axes, keepdims=True) + EPS)
    return xhat * (1 if gamma is None else gamma) + (0 if beta is None else beta)


def composed_normalize(x, axes, gamma, beta):
    """The same layer from elementwise and reduction ops: the reference for the fused op."""
    sigma = (x.var(axes, keepdims=True, correction=0) + EPS).sqrt()
    xhat = (x - x.mean(axes, keepdims=True)) / sigma
    y = xhat if gamma is None else xhat * gamma
    return y if beta is None else y + beta


# --- one case per layer: (fused call, composed call, NumPy reference, inputs) -----------
def channel(p, ndim):  # (C,) -> (1, C, 1, ...)
    return p.reshape((1, -1) + (1,) * (ndim - 2))


@st.composite
def case(draw, layer, device, max_side=3):
    """Inputs and the three versions of `layer`; weight and bias each maybe None.
    Values are distinct by 0.02 so no group is (nearly) constant: there sigma -> sqrt(eps)
    and finite differences, not the op, lose precision."""
    if layer == 'group_norm':
        N, G, per = (draw(st.integers(1, max_side)) for _ in range(3))
        spatial = draw(st.lists(st.integers(1, max_side), max_size=2))
        shape, pshape = (N, G * per, *spatial), (G * per,)
    elif layer == 'layer_norm':
        shape = tuple(draw(st.lists(st.integers(1, max_side), min_size=1, max_size=3)))
        k = draw(st.integers(1, len(shape)))
        pshape = shape[len(shape) - k:]
    else:
        shape = (draw(st.integers(2, max_side)), draw(st.integers(1, max_side)),
                 *draw(st.lists(st.integers(1, max_side), max_size=2)))
        pshape = shape[1:2]
    if layer == 'group_norm' and np.prod(shape[2:]) * per == 1:
        shape = shape[:2] + (2,)  # a group of one element is constant
    x = draw(tensors(shape, low=-3, high=3, margin=0.02, unique=True, noncontiguous=True,
                     device=device))
    gamma, beta = (draw(st.none() | tensors(pshape, low=0.5, high=2, device=device))
                   for _ in range(2))
    if layer == 'group_norm':
        axes = (2, 3)

        def fused(x, w, b):
            return F.group_norm(x, G, w, b)

        def composed(x, w, b):
            xg = x.reshape(N, G, per, -1)
            return composed_normalize(xg, axes, None, None).reshape(x.shape) * (
                1 if w is None else channel(w, x.ndim)) + (0 if b is None else channel(b, x.ndim))

        def ref(a, w, b):
            y = np_normalize(a.reshape(N, G, per, -1), axes, None, None).reshape(a.shape)
            return y * (1 if w is None else w.reshape(channel_shape(a))) + (
                0 if b is None else b.reshape(channel_shape(a)))
    elif layer == 'layer_norm':
        axes = tuple(range(len(shape) - len(pshape), len(shape)))

        def fused(x, w, b):
            return F.layer_norm(x, pshape, w, b)

        def composed(x, w, b):
            return composed_normalize(x, axes, w, b)

        def ref(a, w, b):
            return np_normalize(a, axes, w, b)
    else:
        axes = (0,) + tuple(range(2, len(shape)))

        def fused(x, w, b):
            return F.batch_norm(x, None, None, w, b, training=True)

        def composed(x, w, b):
            return composed_normalize(x, axes, None if w is None else channel(w, x.ndim),
                                      None if b is None else channel(b, x.ndim))

        def ref(a, w, b):
            return np_normalize(a, axes, None if w is None else w.reshape(channel_shape(a)),
                                None if b is None else b.reshape(channel_shape(a)))
    return x, gamma, beta, fused, composed, ref


def channel_shape(a):
    return (1, -1) + (1,) * (a.ndim - 2)


def with_params(fn, gamma, beta):
    """fn(x, w, b) as a function of x and the parameters that are not None (Tensors or,
    for a reference, their arrays), and the list of those parameters."""
    def call(x, *params):
        it = iter(params)
        return fn(x, *(None if p is None else next(it) for p in (gamma, beta)))
    inputs = [p for p in (gamma, beta) if p is not None]
    return call, inputs


LAYERS = ['group_norm', 'layer_norm', 'batch_norm']


@pytest.mark.parametrize('layer', LAYERS)
@given(data=st.data())
def test_forward_matches_numpy_formula(layer, device, data):
    x, gamma, beta, fused, _, ref = data.draw(case(layer, device))
    fn, params = with_params(fused, gamma, beta)
    assert_forward_close(fn, with_params(ref, gamma, beta)[0], x, *params, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize('layer', LAYERS)
@given(data=st.data())
def test_fused_gradient_matches_central_differences(layer, device, data):
    x, gamma, beta, fused, _, _ = data.draw(case(layer, device))
    fn, params = with_params(fused, gamma, beta)
    assert_gradients_close(fn, x, *params)


@pytest.mark.parametrize('layer', LAYERS)
@given(data=st.data())
def test_fused_gradient_equals_composed_gradient(layer, device, data):
    x, gamma, beta, fused, composed, _ = data.draw(case(layer, device, max_side=5))
    inputs = [t.requires_grad_() for t in [x, gamma, beta] if t is not None]
    u = ag.randn(*x.shape, dtype=ag.float64, device=device)
    got = ag.grad(with_params(fused, gamma, beta)[0](*inputs), inputs, u)
    want = ag.grad(with_params(composed, gamma, beta)[0](*inputs), inputs, u)
    np.testing.assert_allclose(fused(x, gamma, beta).numpy(), composed(x, gamma, beta).numpy(),
                               rtol=1e-9, atol=1e-9)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-8, atol=1e-9)


@contextmanager
def plain_normalize():
    """Normalize runs its plain lines (forward) and closed_form_backward inside the block."""
    norm.Normalize.fast = False
    try:
        yield
    finally:
        norm.Normalize.fast = True


@pytest.mark.parametrize('layer', LAYERS)
@given(data=st.data())
def test_fused_section_agrees_with_the_plain_lines(layer, device, data):
    x, gamma, beta, fused, _, _ = data.draw(case(layer, device, max_side=5))
    fn, params = with_params(fused, gamma, beta)
    inputs = [t.requires_grad_() for t in [x] + params]
    u = ag.randn(*x.shape, dtype=ag.float64, device=device)
    y_fast = fn(*inputs)
    fast = [y_fast] + list(ag.grad(y_fast, inputs, u))
    with plain_normalize():
        y_plain = fn(*inputs)
        plain = [y_plain] + list(ag.grad(y_plain, inputs, u))
    for a, b in zip(fast, plain):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize('layer', LAYERS)
@settings(max_examples=8)
@given(data=st.data())
def test_create_graph_gradient_equals_fused_gradient(layer, device, data):
    """Under create_graph the backward runs the Tensor-op formula: same values."""
    x, gamma, beta, fused, _, _ = data.draw(case(layer, device, max_side=4))
    fn, params = with_params(fused, gamma, beta)
    inputs = [t.requires_grad_() for t in [x] + params]
    u = ag.randn(*x.shape, dtype=ag.float64, device=device)
    fused_grads = ag.grad(fn(*inputs), inputs, u)
    graph_grads = ag.grad(fn(*inputs), inputs, u, create_graph=True)
    assert graph_grads[0].requires_grad  # differentiable again
    for g, w in zip(graph_grads, fused_grads):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize('layer', LAYERS)
@settings(max_examples=4)
@given(data=st.data())
def test_second_derivatives_match_central_differences(layer, device, data):
    x, gamma, beta, fused, _, _ = data.draw(case(layer, device, max_side=2))
    fn, params = with_params(fused, gamma, beta)
    assert_gradients_close(fn, x, *params, gradgrad=True)


def test_group_norm_gradient_of_a_realistic_layer_along_a_direction(device):
    ag.manual_seed(0)
    x = ag.randn(2, 16, 5, 5, dtype=ag.float64, device=device)
    w = ag.randn(16, dtype=ag.float64, device=device)
    b = ag.randn(16, dtype=ag.float64, device=device)
    assert_gradients_close(lambda x, w, b: F.group_norm(x, 4, w, b), x, w, b, mode='direction')


# --- group_norm_silu: silu(group_norm(x)) as one op (NormalizeSilu) ----------------------
def np_silu(a):
    return a / (1 + np.exp(-a))


def gn_silu_case(draw, device, max_side=3):
    """group_norm's case with silu applied: (x, gamma, beta, fused op, composed, reference)."""
    x, gamma, beta, _, _, gn_ref = draw(case('group_norm', device, max_side))
    G = draw(st.sampled_from([g for g in range(1, x.shape[1] + 1) if x.shape[1] % g == 0]))

    def fused(x, w, b):
        return F.group_norm_silu(x, G, w, b)

    def composed(x, w, b):  # the two ops of before (their gradients are tested above)
        return F.silu(F.group_norm(x, G, w, b))

    def ref(a, w, b):
        y = np_normalize(a.reshape(a.shape[0], G, -1), (2,), None, None).reshape(a.shape)
        y = y * (1 if w is None else w.reshape(channel_shape(a))) + (
            0 if b is None else b.reshape(channel_shape(a)))
        return np_silu(y)
    return x, gamma, beta, fused, composed, ref


@given(data=st.data())
def test_group_norm_silu_forward_matches_numpy_formula(device, data):
    x, gamma, beta, fused, _, ref = gn_silu_case(data.draw, device)
    fn, params = with_params(fused, gamma, beta)
    assert_forward_close(fn, with_params(ref, gamma, beta)[0], x, *params, rtol=1e-6, atol=1e-9)
    with ag.no_grad():  # the forward without a backward takes its own (in-place) path
        np.testing.assert_allclose(fn(x, *params).numpy(),
                                   with_params(ref, gamma, beta)[0](
                                       x.numpy(), *(p.numpy() for p in params)),
                                   rtol=1e-6, atol=1e-9)


@given(data=st.data())
def test_group_norm_silu_gradient_matches_central_differences(device, data):
    x, gamma, beta, fused, _, _ = gn_silu_case(data.draw, device)
    fn, params = with_params(fused, gamma, beta)
    assert_gradients_close(fn, x, *params)


@given(data=st.data())
def test_group_norm_silu_gradient_equals_the_two_ops_gradient(device, data):
    x, gamma, beta, fused, composed, _ = gn_silu_case(data.draw, device, max_side=5)
    inputs = [t.requires_grad_() for t in [x, gamma, beta] if t is not None]
    u = ag.randn(*x.shape, dtype=ag.float64, device=device)
    got = ag.grad(with_params(fused, gamma, beta)[0](*inputs), inputs, u)
    want = ag.grad(with_params(composed, gamma, beta)[0](*inputs), inputs, u)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-8, atol=1e-10)


@settings(max_examples=6)
@given(data=st.data())
def test_group_norm_silu_create_graph_and_second_derivatives(device, data):
    """Under create_graph the backward is the Tensor-op formula: the same values, and
    differentiable again (checked against central differences)."""
    x, gamma, beta, fused, _, _ = gn_silu_case(data.draw, device, max_side=2)
    fn, params = with_params(fused, gamma, beta)
    inputs = [t.requires_grad_() for t in [x] + params]
    u = ag.randn(*x.shape, dtype=ag.float64, device=device)
    fused_grads = ag.grad(fn(*inputs), inputs, u)
    graph_grads = ag.grad(fn(*inputs), inputs, u, create_graph=True)
    assert graph_grads[0].requires_grad
    for g, w in zip(graph_grads, fused_grads):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-8, atol=1e-10)
    assert_gradients_close(fn, x.detach(), *(p.detach() for p in params), gradgrad=True)


def test_group_norm_silu_forward_is_the_same_with_and_without_a_graph(device):
    """The no_grad path writes z in place; it must give the recorded path's numbers bit
    for bit (CLIP guidance at scale 0 compares a graph-recording sampler with a plain one)."""
    ag.manual_seed(3)
    x = ag.randn(3, 8, 5, 5, device=device)
    w, b = ag.randn(8, device=device), ag.randn(8, device=device)
    recorded = F.group_norm_silu(x.requires_grad_(), 4, w, b).numpy()
    with ag.no_grad():
        np.testing.assert_array_equal(F.group_norm_silu(x, 4, w, b).numpy(), recorded)


def test_group_norm_silu_float32_stays_float32(device):
    x = ag.randn(2, 4, 3, 3, device=device, requires_grad=True)
    w, b = ag.randn(4, device=device, requires_grad=True), ag.randn(4, device=device, requires_grad=True)
    y = F.group_norm_silu(x, 2, w, b)
    y.backward(ag.randn(*y.shape, device=device))
    assert {y.dtype, x.grad.dtype, w.grad.dtype, b.grad.dtype} == {np.dtype(np.float32)}
    np.testing.assert_allclose(y.numpy(), F.silu(F.group_norm(x, 2, w, b)).numpy(), rtol=1e-5,
                               atol=1e-6)


# --- batch norm's running statistics and eval mode -------------------------------
def test_batch_norm_training_updates_running_stats_like_pytorch(device):
    ag.manual_seed(1)
    x = ag.randn(4, 3, 2, 5, dtype=ag.float64, device=device)
    mean0, var0 = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 0.5])
    rm = ag.tensor(mean0, dtype=ag.float64, device=device)
    rv = ag.tensor(var0, dtype=ag.float64, device=device)
    F.batch_norm(x, rm, rv, training=True, momentum=0.3)
    a = x.numpy()
    np.testing.assert_allclose(rm.numpy(), 0.7 * mean0 + 0.3 * a.mean((0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.7 * var0 + 0.3 * a.var((0, 2, 3), ddof=1),  # unbiased
                               rtol=1e-12)


@settings(max_examples=8)
@given(data=st.data())
def test_batch_norm_eval_normalizes_with_running_stats(device, data):
    x = data.draw(tensors((3, 2, 2), device=device))
    rm = data.draw(tensors((2,), device=device))
    rv = data.draw(tensors((2,), low=0.1, high=3, device=device))
    w = data.draw(tensors((2,), device=device))
    b = data.draw(tensors((2,), device=device))
    before = rm.numpy().copy(), rv.numpy().copy()

    def fn(x, w, b):
        return F.batch_norm(x, rm, rv, w, b, training=False)

    def ref(a, w, b):
        c = (1, 2, 1)
        xhat = (a - rm.numpy().reshape(c)) / np.sqrt(rv.numpy().reshape(c) + EPS)
        return xhat * w.reshape(c) + b.reshape(c)

    assert_forward_close(fn, ref, x, w, b)
    assert_gradients_close(fn, x, w, b)
    np.testing.assert_array_equal(rm.numpy(), before[0])  # eval leaves them alone
    np.testing.assert_array_equal(rv.numpy(), before[1])


# --- float32 and bad input --------------------------------------------------------
def test_float32_in_float32_out(device):
    x = ag.randn(2, 4, 3, 3, device=device, requires_grad=True)
    w = ag.ones(4, device=device, requires_grad=True)
    b = ag.zeros(4, device=device, requires_grad=True)
    outs = [F.group_norm(x, 2, w, b), F.layer_norm(x, (3, 3)),
            F.batch_norm(x, ag.zeros(4, device=device), ag.ones(4, device=device), w, b, True)]
    for y in outs:
        assert y.dtype == np.float32
        y.backward(ag.ones_like(y))
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_group_norm_rejects_groups_that_do_not_divide_channels(device):
    x = ag.zeros(2, 6, 3, device=device)
    with pytest.raises(ValueError, match="group_norm: num_groups=4 does not divide the 6 chan"):
        F.group_norm(x, 4)
    with pytest.raises(ValueError, match=r"group_norm: weight must have shape \(6,\), got \(3,\)"):
        F.group_norm(x, 3, weight=ag.ones(3, device=device))
    with pytest.raises(ValueError, match=r"group_norm: x must be \(N, C, \.\.\.\)"):
        F.group_norm(ag.zeros(6, device=device), 3)


def test_layer_norm_rejects_a_shape_that_is_not_the_last_axes(device):
    x = ag.zeros(2, 3, 4, device=device)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(3,\) must be the last "
                                         r"axes of x, whose shape is \(2, 3, 4\)"):
        F.layer_norm(x, 3)
    with pytest.raises(ValueError, match="layer_norm: normalized_shape"):
        F.layer_norm(x, (1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"layer_norm: bias must have shape \(3, 4\)"):
        F.layer_norm(x, (3, 4), bias=ag.zeros(4, device=device))


def test_batch_norm_bad_input_raises_and_changes_no_running_stat(device):
    rm, rv = ag.zeros(3, device=device), ag.ones(3, device=device)
    x = ag.randn(4, 3, device=device)
    with pytest.raises(ValueError, match=r"batch_norm: running_var must have shape \(3,\), got"):
        F.batch_norm(x, rm, ag.ones(2, device=device), training=True)
    with pytest.raises(ValueError, match="batch_norm: training needs more than 1 value per chan"):
        F.batch_norm(ag.randn(1, 3, device=device), rm, rv, training=True)
    with pytest.raises(ValueError, match="batch_norm: eval mode .* needs running_mean"):
        F.batch_norm(ag.randn(4, 3, device=device), None, None, training=False)
    assert rm.numpy().tolist() == [0, 0, 0] and rv.numpy().tolist() == [1, 1, 1]
    assert rm._version == rv._version == 0


def test_group_norm_of_a_channel_major_view_equals_that_of_its_contiguous_copy():
    """A conv returns its output as a channel-major view; the norms read it in place (_sum's
    strided case: the last axis by BLAS, then the rest) and must agree with the copy."""
    from autograd.ops.norm import _sum
    rng = np.random.default_rng(0)
    cm = rng.standard_normal((8, 3, 4, 5))  # memory order (C, N, H, W)
    view = cm.transpose(1, 0, 2, 3)  # (N, C, H, W), not contiguous
    grouped = view.reshape(3, 2, 4, 20)
    assert not grouped.flags.c_contiguous
    np.testing.assert_allclose(_sum(grouped, (2, 3)), grouped.sum(axis=(2, 3), keepdims=True),
                               rtol=1e-12)
    w, b = ag.tensor(rng.standard_normal(8)), ag.tensor(rng.standard_normal(8))
    for op in (F.group_norm, F.group_norm_silu):
        np.testing.assert_allclose(op(ag.as_tensor(view), 2, w, b).numpy(),  # shares the view
                                   op(ag.tensor(np.ascontiguousarray(view)), 2, w, b).numpy(),
                                   rtol=1e-12, atol=1e-12)
