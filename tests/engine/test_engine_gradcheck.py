"""gradcheck and gradgradcheck themselves: they pass correct ops in both modes, and a
deliberately wrong backward (or a backward's backward, in its input or in the upstream
gradient) fails with a report naming the input, the worst index, and the analytic and
numeric values."""
import numpy as np
import pytest

import autograd as ag
from autograd.gradcheck import GradcheckError


class WrongSquare(ag.Function):
    def forward(self, x):
        return x * x

    def backward(self, g):  # wrong on purpose: d x^2 = 2x, not 2x + 1 at index 1
        x, = self.inputs
        bump = np.zeros(x.shape)
        bump[1] = 1.0
        return g * 2 * x + g * ag.tensor(bump, dtype=x.dtype, device=x.device)


class DetachedSquare(ag.Function):
    """Right first derivative, but backward leaves the graph: no second derivative."""

    def forward(self, x):
        return x * x

    def backward(self, g):
        x, = self.inputs
        return g * ag.as_tensor(2 * x.data)


def test_gradcheck_passes_a_correct_op_in_both_modes(device):
    x = ag.randn(3, 4, device=device, requires_grad=True)
    w = ag.randn(4, 2, device=device, requires_grad=True)
    for mode in ('full', 'direction'):
        assert ag.gradcheck(lambda x, w: (x @ w).tanh(), [x, w], mode=mode)


def test_gradcheck_report_names_input_index_analytic_and_numeric(device):
    x = ag.tensor([0.5, -1.0, 2.0], device=device)
    with pytest.raises(GradcheckError) as e:
        ag.gradcheck(WrongSquare.apply, [x])
    message = str(e.value)
    assert "input 0 (shape (3,)) differs at index (1,)" in message
    assert "analytic" in message and "numeric" in message and "1 of 3 elements off" in message


def test_gradcheck_direction_mode_catches_a_wrong_backward(device):
    x = ag.tensor([0.5, -1.0, 2.0], device=device)
    with pytest.raises(GradcheckError, match=r"direction.*analytic .* vs numeric"):
        ag.gradcheck(WrongSquare.apply, [x], mode='direction')
    assert ag.gradcheck(WrongSquare.apply, [x], raise_exception=False) is False


def test_gradcheck_uses_a_random_upstream_gradient(device):
    class ZeroSoftmaxGrad(ag.Function):  # sum(softmax) is constant, so a .sum() check passes
        def forward(self, x):
            return ag.softmax(ag.as_tensor(x)).data

        def backward(self, g):
            return g * 0

    x = ag.randn(4, device=device)
    with pytest.raises(GradcheckError):
        ag.gradcheck(ZeroSoftmaxGrad.apply, [x])


def test_gradcheck_checks_tuple_outputs_and_passes_integer_inputs_through(device):
    x = ag.randn(5, device=device)
    index = ag.tensor([4, 0, 0], device=device)
    assert ag.gradcheck(lambda x, i: (x[i] * 2, x.exp()), [x, index])


def test_gradgradcheck_passes_second_derivatives_built_by_create_graph(device):
    x = ag.randn(2, 3, device=device)
    assert ag.gradgradcheck(lambda x: (x.tanh() * x).softmax(-1), [x])


def test_gradgradcheck_catches_a_backward_that_leaves_the_graph(device):
    x = ag.tensor([0.5, -1.0], device=device)
    assert ag.gradcheck(DetachedSquare.apply, [x])
    with pytest.raises(GradcheckError, match="analytic 0, numeric"):
        ag.gradgradcheck(DetachedSquare.apply, [x])


class SquareWrongInTheUpstreamGradient(ag.Function):
    """x^2 with a hand-written backward, 2 x g, whose own backward is right in x and
    wrong in g: d(2 x g)/dg = 2x, here 3x. First derivatives are right."""

    def forward(self, x):
        return x * x

    def backward(self, g):
        x, = self.inputs
        return TwiceXTimesG.apply(x, g)


class TwiceXTimesG(ag.Function):
    def forward(self, x, g):
        return 2 * x * g

    def backward(self, gg):  # d/dx = 2 g (right), d/dg = 2 x (written wrong on purpose)
        x, g = self.inputs
        return gg * 2 * g, gg * 3 * x


@pytest.mark.parametrize('mode', ['full', 'direction'])
def test_gradgradcheck_checks_second_derivatives_in_the_upstream_gradient_too(device, mode):
    """Holding the upstream gradient constant would pass this op; the check over u does
    not (in the report, input 1 is the upstream gradient of fn's one output)."""
    x = ag.tensor([0.5, -1.0, 2.0], device=device)
    assert ag.gradcheck(SquareWrongInTheUpstreamGradient.apply, [x], mode=mode)
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(3,\)\)" if mode == 'full'
                       else "direction"):
        ag.gradgradcheck(SquareWrongInTheUpstreamGradient.apply, [x], mode=mode)


def test_gradcheck_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="gradcheck: mode must be 'full' or 'direction'"):
        ag.gradcheck(ag.exp, [ag.ones(1)], mode='fast')
