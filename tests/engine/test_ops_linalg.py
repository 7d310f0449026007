"""Matrix product with NumPy's semantics: 1-D operands promoted and squeezed again,
leading (batch) axes broadcast, and their gradients summed back by the engine."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
from autograd.testing import operands, assert_forward_close, assert_gradients_close

# shapes (..., n, k) and (..., k, m) with broadcasting batches, n and m optional (1-D)
MATMUL_SHAPES = hnp.mutually_broadcastable_shapes(
    signature=np.matmul.signature, max_dims=3, max_side=3).map(lambda r: r.input_shapes)


@given(data=st.data())
def test_matmul_matches_numpy_and_finite_differences(device, data):
    a, b = data.draw(operands(2, input_shapes=MATMUL_SHAPES, device=device))
    assert_forward_close(ag.matmul, np.matmul, a, b)
    assert_forward_close(lambda a, b: a @ b, np.matmul, a, b)
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
