"""scaled_dot_product_attention: forward against softmax(q k^T * scale + M) v in NumPy,
the fused backward against central differences and against the same layer composed
of matmul/softmax ops, boolean/float/causal masks, broadcast (multi-head) batch axes,
second derivatives, float32, and every bad input."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
import minigen.nn.functional as F
from autograd.testing import tensors, assert_forward_close, assert_gradients_close

sdpa = F.scaled_dot_product_attention


def np_attention(q, k, v, bias=0.0, scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale + bias
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


def composed_attention(q, k, v, bias=None, scale=None):
    """The same layer as separate engine ops: the reference for the fused backward."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = (q @ k.transpose()) * scale
    if bias is not None:
        s = s + ag.tensor(bias, device=q.device)
    return s.softmax(-1) @ v


@st.composite
def qkv(draw, device, max_side=3):
    """q (..., L, d), k (..., S, d), v (..., S, dv) with batch axes that broadcast."""
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=2, max_side=2))
    L, S, d, dv = (draw(st.integers(1, max_side)) for _ in range(4))
    shapes = [b + tail for b, tail in zip(batch.input_shapes, [(L, d), (S, d), (S, dv)])]
    return [draw(tensors(s, noncontiguous=True, device=device)) for s in shapes]


@given(data=st.data())
def test_forward_matches_numpy_and_gradient_matches_central_differences(device, data):
    q, k, v = data.draw(qkv(device))
    assert_forward_close(sdpa, np_attention, q, k, v)
    assert_gradients_close(sdpa, q, k, v)


@given(data=st.data())
def test_fused_gradient_equals_composed_gradient_with_every_mask_kind(device, data):
    q, k, v = (t.requires_grad_() for t in data.draw(qkv(device, max_side=5)))
    L, S = q.shape[-2], k.shape[-2]
    kind = data.draw(st.sampled_from(['none', 'bool', 'float', 'causal']))
    scale = data.draw(st.none() | st.floats(0.1, 2.0))
    kwargs, bias = {'scale': scale}, None
    if kind == 'bool':  # with every batch axis (those of v too)
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        keep = data.draw(hnp.arrays(bool, batch + (L, S)))
        keep[..., 0] = True  # every query keeps a key (the all-masked row is tested below)
        kwargs['mask'], bias = keep, np.where(keep, 0.0, -np.inf)
    elif kind == 'float':
        bias = data.draw(hnp.arrays(np.float64, (L, S), elements=st.floats(-3, 3)))
        kwargs['mask'] = ag.tensor(bias, device=device)
    elif kind == 'causal':
        kwargs['is_causal'], bias = True, np.where(np.tri(L, S, dtype=bool), 0.0, -np.inf)
    got_y = sdpa(q, k, v, **kwargs)
    want_y = composed_attention(q, k, v, bias, scale)
    u = ag.randn(*got_y.shape, dtype=ag.float64, device=device)
    np.testing.assert_allclose(got_y.numpy(), want_y.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got_y.numpy(), np_attention(q.numpy(), k.numpy(), v.numpy(),
                                                           0.0 if bias is None else bias, scale),
                               rtol=1e-9, atol=1e-12)
    for got, want in zip(ag.grad(got_y, [q, k, v], u), ag.grad(want_y, [q, k, v], u)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-8, atol=1e-11)


@settings(max_examples=5)
@given(data=st.data())
def test_masked_gradients_match_central_differences(device, data):
    q, k, v = data.draw(qkv(device))
    L, S = q.shape[-2], k.shape[-2]
    keep = data.draw(hnp.arrays(bool, (L, S)))
    keep[:, -1] = True
    assert_gradients_close(lambda q, k, v: sdpa(q, k, v, mask=keep), q, k, v)
    assert_gradients_close(lambda q, k, v: sdpa(q, k, v, is_causal=True), q, k, v)


@settings(max_examples=4)
@given(data=st.data())
def test_second_derivatives_match_central_differences(device, data):
    q, k, v = data.draw(qkv(device, max_side=2))
    assert_gradients_close(lambda q, k, v: sdpa(q, k, v, is_causal=True), q, k, v, gradgrad=True)


def test_create_graph_gradient_equals_fused_gradient(device):
    ag.manual_seed(0)
    q, k, v = (ag.randn(2, 3, 4, dtype=ag.float64, device=device, requires_grad=True)
               for _ in range(3))
    u = ag.randn(2, 3, 4, dtype=ag.float64, device=device)
    fused = ag.grad(sdpa(q, k, v, is_causal=True), [q, k, v], u)
    graph = ag.grad(sdpa(q, k, v, is_causal=True), [q, k, v], u, create_graph=True)
    assert graph[0].requires_grad
    for g, w in zip(graph, fused):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-10, atol=1e-12)


def test_multi_head_gradient_along_a_direction_with_shared_keys(device):
    """(B, heads, L, d) queries against keys and values shared by the heads."""
    ag.manual_seed(1)
    q = ag.randn(2, 4, 6, 8, dtype=ag.float64, device=device)
    k = ag.randn(2, 1, 5, 8, dtype=ag.float64, device=device)
    v = ag.randn(2, 1, 5, 3, dtype=ag.float64, device=device)
    assert sdpa(q, k, v).shape == (2, 4, 6, 3)
    assert_gradients_close(sdpa, q, k, v, mode='direction')


def test_bool_mask_is_true_to_keep_and_a_fully_masked_query_gives_zeros(device):
    ag.manual_seed(2)
    q, k, v = (ag.randn(3, 2, dtype=ag.float64, device=device, requires_grad=True)
               for _ in range(3))
    keep = np.array([[True, False, False], [True, True, False], [False, False, False]])
    y = sdpa(q, k, v, mask=keep)
    np.testing.assert_allclose(y.numpy()[0], v.numpy()[0], rtol=1e-12)  # only key 0 is left
    assert (y.numpy()[2] == 0).all()
    y.backward(ag.ones_like(y))
    assert all(np.isfinite(t.grad.numpy()).all() for t in (q, k, v))
    assert (q.grad.numpy()[2] == 0).all()


def test_fully_masked_query_under_create_graph_matches_the_fused_gradient(device):
    """The differentiable backward (create_graph=True) gives the fused one's finite
    gradients where a query has no key left, and its own gradient is finite too."""
    ag.manual_seed(4)
    q, k, v = (ag.randn(2, 3, 2, dtype=ag.float64, device=device, requires_grad=True)
               for _ in range(3))
    keep = np.array([[True, False, False], [True, True, False], [False, False, False]])
    u = ag.randn(2, 3, 2, dtype=ag.float64, device=device)
    fused = ag.grad(sdpa(q, k, v, mask=keep), [q, k, v], u)
    graph = ag.grad(sdpa(q, k, v, mask=keep), [q, k, v], u, create_graph=True)
    for g, w in zip(graph, fused):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-10, atol=1e-12)
    (graph[0] * u).sum().backward()  # a second derivative through the masked rows
    assert all(np.isfinite(t.grad.numpy()).all() for t in (q, k, v))
    assert_gradients_close(lambda q, k, v: sdpa(q, k, v, mask=keep), q.detach(), k.detach(),
                           v.detach(), gradgrad=True)


def test_causal_equals_lower_triangular_bool_mask(device):
    ag.manual_seed(3)
    q, k, v = (ag.randn(2, 4, 3, device=device) for _ in range(3))
    np.testing.assert_array_equal(sdpa(q, k, v, is_causal=True).numpy(),
                                  sdpa(q, k, v, mask=np.tri(4, dtype=bool)).numpy())


def test_float32_in_float32_out(device):
    q, k, v = (ag.randn(2, 5, 4, device=device, requires_grad=True) for _ in range(3))
    y = sdpa(q, k, v, mask=ag.zeros(5, 5, dtype=ag.float64, device=device))
    assert y.dtype == np.float32
    y.backward(ag.ones_like(y))
    assert q.grad.dtype == k.grad.dtype == v.grad.dtype == np.float32


def test_bad_shapes_and_masks_raise_errors_that_name_the_op(device):
    def zeros(*shape):
        return ag.zeros(*shape, device=device)

    q, k, v = zeros(2, 3, 4), zeros(2, 5, 4), zeros(2, 5, 6)
    bad = [((q, zeros(2, 5, 3), v), {}, "do not match"),
           ((q, k, zeros(2, 4, 6)), {}, "do not match"),
           ((zeros(3, 3, 4), k, v), {}, "batch axes .* do not broadcast"),
           ((zeros(4), k, v), {}, "at least 2 dimensions"),
           ((q, k, v), {'mask': np.ones((3, 4), bool)}, r"mask of shape \(3, 4\) does not broad"),
           ((q, k, v), {'mask': np.ones((7, 3, 5), bool)}, "does not broadcast to the scores'"),
           ((q, k, v), {'mask': np.ones((3, 5), bool), 'is_causal': True}, "not both")]
    for args, kwargs, message in bad:
        with pytest.raises(ValueError, match="scaled_dot_product_attention: .*" + message):
            sdpa(*args, **kwargs)
    with pytest.raises(TypeError, match="scaled_dot_product_attention: mask must be boolean"):
        sdpa(q, k, v, mask=np.ones((3, 5), np.int64))
