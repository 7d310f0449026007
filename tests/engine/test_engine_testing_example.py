"""The README's example: a user property-tests their own op with autograd.testing."""
from hypothesis import given

import autograd as ag
from autograd.testing import op_test, tensors, shapes, assert_gradients_close


class Cube(ag.Function):
    def forward(self, x):
        return x ** 3

    def backward(self, g):  # d x^3 / dx = 3 x^2
        x, = self.inputs
        return g * 3 * x * x


# forward vs NumPy, gradient and grad-of-grad vs finite differences, on every device
test_cube = op_test(Cube.apply, lambda x: x ** 3, gradgrad=True)


@given(tensors(shapes(), low=-3, high=3))  # or by hand, with the strategies
def test_cube_gradient_matches_finite_differences(x):
    assert_gradients_close(Cube.apply, x)
