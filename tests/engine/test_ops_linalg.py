"""Matrix product with NumPy's semantics: 1-D operands promoted and squeezed again,
leading (batch) axes broadcast, and their gradients summed back by the engine."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
from autograd.ops import linalg
from autograd.testing import operands, tensors, assert_forward_close, assert_gradients_close

# shapes (..., n, k) and (..., k, m) with broadcasting batches, n and m optional (1-D)
MATMUL_SHAPES = hnp.mutually_broadcastable_shapes(
    signature=np.matmul.signature, max_dims=3, max_side=3).map(lambda r: r.input_shapes)


@given(data=st.data())
def test_matmul_matches_numpy_and_finite_differences(device, data):
    a, b = data.draw(operands(2, input_shapes=MATMUL_SHAPES, device=device))
    assert_forward_close(ag.matmul, np.matmul, a, b)
    assert_forward_close(lambda a, b: a @ b, np.matmul, a, b)
    assert_gradients_close(ag.matmul, a, b)


MATRIX_TIMES_BATCH = st.tuples(*[st.integers(1, 4)] * 4).map(
    lambda s: [(s[0], s[1]), (s[3], s[1], s[2])])  # (m, k) @ (N, k, n): one product inside


@given(data=st.data())
def test_a_matrix_times_a_batch_matches_numpy_and_finite_differences(device, data):
    a, b = data.draw(operands(2, input_shapes=MATRIX_TIMES_BATCH, device=device))
    assert_forward_close(ag.matmul, np.matmul, a, b)
    assert_gradients_close(ag.matmul, a, b)


@settings(max_examples=6)
@given(data=st.data())
def test_matmul_second_derivative_matches_finite_differences(device, data):
    a, b = data.draw(operands(2, input_shapes=MATMUL_SHAPES, device=device))
    assert_gradients_close(ag.matmul, a, b, gradgrad=True)


def test_matmul_with_a_numpy_array_on_either_side(device):
    w = ag.randn(3, 2, device=device, requires_grad=True)
    x = np.ones((4, 3), np.float32)
    (x @ w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.full((3, 2), 4.0))
    assert (w.T @ x.T).shape == (2, 4)


def test_matmul_shape_errors_name_the_op_and_shapes(device):
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not align"):
        ag.zeros(2, 3, device=device) @ ag.zeros(4, 5, device=device)
    with pytest.raises(ValueError, match="matmul: both operands need at least one dimension"):
        ag.matmul(ag.zeros(3, device=device), ag.tensor(2.0, device=device))


# well-conditioned square matrices: I * 3 + entries in [-1, 1], n <= 4, a batch axis or not
@st.composite
def square_matrices(draw, device='cpu'):
    n = draw(st.integers(1, 4))
    batch = draw(st.sampled_from([(), (2,), (2, 3)]))
    entries = draw(hnp.arrays(np.float64, batch + (n, n), elements=st.floats(-1, 1)))
    sign = draw(st.sampled_from([1.0, -1.0]))  # a negative determinant as often as a positive
    a = entries + sign * 3 * np.eye(n)
    return ag.tensor(a, device=device)


@given(data=st.data())
def test_slogdet_matches_numpy_and_finite_differences(device, data):
    a = data.draw(square_matrices(device))
    sign, logabsdet = ag.slogdet(a)
    want_sign, want_logabsdet = np.linalg.slogdet(a.numpy())
    np.testing.assert_array_equal(sign.numpy(), want_sign)
    np.testing.assert_allclose(logabsdet.numpy(), want_logabsdet, rtol=1e-10, atol=1e-12)
    assert not sign.requires_grad
    assert_gradients_close(lambda a: ag.slogdet(a)[1], a, gradgrad=True)


def test_slogdet_gradient_is_the_inverse_transpose(device):
    """d log|det A| / dA = A^{-T} (Jacobi's formula), with a negative determinant too."""
    a = ag.tensor([[0.0, 2.0, 1.0], [1.0, 0.5, 0.0], [3.0, 1.0, 4.0]], dtype=ag.float64,
                  device=device, requires_grad=True)
    ag.slogdet(a)[1].backward()
    np.testing.assert_allclose(a.grad.numpy(), np.linalg.inv(a.numpy()).T, rtol=1e-12)


@given(data=st.data())
def test_inv_matches_numpy_and_finite_differences(device, data):
    a = data.draw(square_matrices(device))
    assert_forward_close(ag.inv, np.linalg.inv, a)
    assert_gradients_close(ag.inv, a, gradgrad=True)


def test_slogdet_and_inv_refuse_non_square_matrices(device):
    with pytest.raises(ValueError, match=r"slogdet: needs square matrices \(\.\.\., n, n\), "
                                         r"got shape \(2, 3\)"):
        ag.slogdet(ag.zeros(2, 3, device=device))
    with pytest.raises(ValueError, match="inv: needs square matrices"):
        ag.inv(ag.zeros(3, device=device))


# --- linear: x W^T + b as one op (the fast path of minigen.nn.Linear) ------------------
@st.composite
def linear_operands(draw, device='cpu', bias=True):
    n, i, o = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shapes = [(n, i), (o, i)] + ([(o,)] if bias else [])
    return [draw(tensors(s, noncontiguous=True, device=device)) for s in shapes]


@pytest.mark.parametrize('bias', [True, False], ids=['bias', 'no_bias'])
@given(data=st.data())
def test_linear_op_equals_its_line_and_finite_differences(device, bias, data):
    """ops.linalg.linear is `x @ w.T + b` as one op: the same numbers, the same gradients
    (compared with the line's, run by the engine as three ops, and with central differences)."""
    xs = data.draw(linear_operands(device, bias))
    line = (lambda x, w, b: x @ w.T + b) if bias else (lambda x, w: x @ w.T)  # Tensors or arrays
    assert_forward_close(linalg.linear, line, *xs)
    assert_gradients_close(linalg.linear, *xs)
    xs = [x.detach().requires_grad_() for x in xs]
    g = ag.randn(xs[0].shape[0], xs[1].shape[0], device=device, dtype=np.float64)
    for fused, composed in zip(ag.grad(linalg.linear(*xs), xs, g), ag.grad(line(*xs), xs, g)):
        np.testing.assert_allclose(fused.numpy(), composed.numpy(), rtol=1e-12, atol=1e-12)


@settings(max_examples=6)
@given(data=st.data())
def test_linear_op_second_derivative_matches_finite_differences(device, data):
    assert_gradients_close(linalg.linear, *data.draw(linear_operands(device)), gradgrad=True)


def test_linear_op_shape_errors_name_the_op(device):
    with pytest.raises(ValueError, match=r"linear: expected x \(N, in\), weight \(out, in\)"):
        linalg.linear(ag.zeros(2, 3, device=device), ag.zeros(4, 5, device=device))
