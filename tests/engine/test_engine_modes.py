"""Grad mode, anomaly mode and in-place safety: no_grad / enable_grad as context
managers and decorators, detect_anomaly naming the first op whose forward or backward
made a NaN or inf, and the version counter that catches an in-place change to an
array that backward needs."""
import numpy as np
import pytest

import autograd as ag


def test_no_grad_builds_no_graph(device):
    x = ag.randn(3, device=device, requires_grad=True)
    with ag.no_grad():
        y = (x * 2).exp().sum()
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()
    assert not y.requires_grad and y.creator is None


def test_no_grad_works_as_a_decorator_and_restores_grad_mode_after_an_error(device):
    @ag.no_grad()
    def sample(x):
        if x is None:
            raise KeyError('boom')
        return x * 2

    x = ag.randn(3, device=device, requires_grad=True)
    assert not sample(x).requires_grad
    with pytest.raises(KeyError):
        sample(None)
    assert ag.is_grad_enabled() and (x * 2).requires_grad


def test_enable_grad_records_again_inside_no_grad(device):
    x = ag.randn(3, device=device, requires_grad=True)
    with ag.no_grad():
        with ag.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and not z.requires_grad


def test_detect_anomaly_names_the_op_whose_forward_made_a_nan(device):
    x = ag.tensor([1.0, -1.0], device=device, requires_grad=True)
    with ag.detect_anomaly():
        y = x * 2
        with np.errstate(invalid='ignore'), \
                pytest.raises(FloatingPointError, match="Log.forward produced NaN"):
            y.log()
    with np.errstate(invalid='ignore'):
        y.log()  # outside the block nothing is checked


def test_detect_anomaly_names_the_op_whose_backward_made_an_inf(device):
    x = ag.tensor([0.0, 4.0], device=device, requires_grad=True)
    with ag.detect_anomaly():
        y = (x * 1).sqrt().sum()  # forward is finite; d sqrt / dx = inf at 0
        with np.errstate(divide='ignore'), \
                pytest.raises(FloatingPointError, match=r"in Sqrt.backward, Div.forward "
                                                        r"produced inf"):
            y.backward()


def test_detect_anomaly_names_an_op_whose_backward_returned_a_nan(device):
    class Broken(ag.Function):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return ag.as_tensor(g.data * np.nan)

    x = ag.ones(2, device=device, requires_grad=True)
    with ag.detect_anomaly(), pytest.raises(
            FloatingPointError, match=r"Broken.backward returned for input of shape \(2,\) NaN"):
        Broken.apply(x).sum().backward()


def test_detect_anomaly_works_as_a_decorator(device):
    @ag.detect_anomaly()
    def run(x):
        return x / 0.0

    with np.errstate(divide='ignore'), pytest.raises(FloatingPointError, match="Div.forward"):
        run(ag.ones(2, device=device))


def test_changing_an_input_in_place_after_use_is_caught_at_backward(device):
    x = ag.ones(3, device=device)
    w = ag.ones(3, device=device, requires_grad=True)
    y = (x * w).sum()  # Mul needs x for w's gradient
    x.add_(1)
    with pytest.raises(RuntimeError, match=r"Mul: input 0 \(3,\) needed for the gradient was "
                                           r"modified in place \(version 0 -> 1\)"):
        y.backward()


def test_changing_an_output_in_place_after_use_is_caught_at_backward(device):
    x = ag.ones(3, device=device, requires_grad=True)
    y = x.exp()  # Exp's backward reads its output
    with ag.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="Exp: its output .* was modified in place"):
        y.sum().backward()


def test_writing_through_a_view_is_caught_at_backward(device):
    x = ag.randn(3, 4, device=device, requires_grad=True)
    a = x * 2
    row, flat, t = a[0], a.reshape(12), a.T  # views of a share its version counter
    y = (a * a).sum()  # Mul needs a
    with ag.no_grad():
        row.add_(1)
    assert a._version == flat._version == t._version == 1
    with pytest.raises(RuntimeError, match=r"Mul: input 0 \(3, 4\) needed for the gradient "
                                           r"was modified in place"):
        y.backward()


def test_writing_into_a_detached_tensor_is_caught_at_backward(device):
    x = ag.ones(3, device=device, requires_grad=True)
    y = x.exp()
    y.detach().mul_(2)  # same memory as y, which Exp's backward reads
    with pytest.raises(RuntimeError, match="Exp: its output .* was modified in place"):
        y.sum().backward()


def test_a_copy_does_not_share_the_version_counter(device):
    x = ag.ones(3, device=device, requires_grad=True)
    a = x * 2
    b = a + 0  # a new array
    y = (a * a).sum()
    with ag.no_grad():
        b.add_(1)
    assert a._version == 0
    y.backward()
    assert x.grad.tolist() == [8.0] * 3


def test_setitem_bumps_the_version(device):
    x = ag.zeros(2, 2, device=device)
    w = ag.ones(2, 2, device=device, requires_grad=True)
    y = (x * w).sum()
    x[0, 1] = 5.0
    assert x._version == 1 and x.numpy()[0, 1] == 5.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_in_place_on_a_tensor_that_requires_grad_needs_no_grad(device):
    w = ag.ones(3, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"in-place op on a tensor that requires grad.*no_grad"):
        w.sub_(1)
    with ag.no_grad():  # what an optimizer step does
        w.sub_(0.5)
    assert w.tolist() == [0.5] * 3 and w._version == 1


def test_in_place_ops_work_on_0d_results(device):
    s = ag.ones(3, device=device).sum()
    s.add_(1)
    s.mul_(2)
    assert s.item() == 8.0 and s._version == 2
