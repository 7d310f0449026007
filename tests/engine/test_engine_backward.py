"""The backward engine: accumulation, retain_graph, freeing the graph, deep graphs,
broadcasting, autograd.grad (returns gradients, touches no .grad, runs only the part of
the graph that leads to its inputs, and with create_graph gives second derivatives)."""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import autograd as ag


def test_leaf_gradients_accumulate_across_two_backward_calls(device):
    x = ag.tensor([1.0, -2.0], device=device, requires_grad=True)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    assert x.grad.tolist() == [2 + 3, -4 + 3]


def test_retain_graph_allows_a_second_backward_through_the_same_graph(device):
    x = ag.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_second_backward_through_a_freed_graph_says_to_retain_it(device):
    x = ag.randn(3, device=device, requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*"
                                           "retain_graph=True"):
        y.backward()


def test_a_chain_of_10000_ops_backpropagates_without_recursion(device):
    x = ag.tensor(1.0, device=device, dtype=np.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001 ** 10_000, rtol=1e-9)


def test_a_tensor_used_twice_gets_the_sum_of_both_gradients(device):
    x = ag.tensor([3.0], device=device, requires_grad=True)
    y = x * x          # dy/dx = 2x
    z = y + y.tanh()   # dz/dy = 1 + (1 - tanh(y)^2)
    z.sum().backward()
    want = 2 * 3.0 * (1 + 1 - np.tanh(9.0) ** 2)
    np.testing.assert_allclose(x.grad.numpy(), [want], rtol=1e-6)


def test_broadcast_gradients_are_summed_back_to_each_input_shape(device):
    a = ag.ones(2, 1, 3, device=device, requires_grad=True)
    b = ag.ones(4, 1, device=device, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (2, 1, 3) and b.grad.shape == (4, 1)
    assert a.grad.numpy().tolist() == np.full((2, 1, 3), 4.0).tolist()
    assert b.grad.numpy().tolist() == np.full((4, 1), 6.0).tolist()


def test_leaf_gradients_are_writable_and_not_shared(device):
    a = ag.zeros(3, device=device, requires_grad=True)
    b = ag.zeros(3, device=device, requires_grad=True)
    (a + b).sum().backward()  # Add hands both inputs the same (broadcast, read-only) array
    with ag.no_grad():
        a.grad.mul_(10)
    assert a.grad.tolist() == [10.0] * 3 and b.grad.tolist() == [1.0] * 3


def test_backward_of_a_non_scalar_needs_a_gradient(device):
    y = ag.randn(2, 3, device=device, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"grad can be implied only for a scalar output.*"
                                           r"\(2, 3\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but the tensor has shape"):
        y.backward(ag.ones(3, device=device))
    y.backward(ag.ones(2, 3, device=device))


def test_backward_of_a_tensor_without_graph_says_why(device):
    with pytest.raises(RuntimeError, match="does not require grad"):
        (ag.randn(3, device=device) * 2).sum().backward()


def test_a_backward_returning_a_wrong_shape_is_named(device):
    class Bad(ag.Function):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return g[:1]

    x = ag.randn(3, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Bad.backward returned a gradient of shape \(1,\) "
                                           r"for an input of shape \(3,\)"):
        Bad.apply(x).sum().backward()


def test_grad_returns_gradients_and_touches_no_dot_grad(device):
    x = ag.tensor([1.0, 2.0], device=device, requires_grad=True)
    w = ag.tensor([3.0, 4.0], device=device, requires_grad=True)
    h = x * w
    h.retain_grad()
    (gx,) = ag.grad((h * h).sum(), [x])
    assert gx.tolist() == [2 * 1 * 9, 2 * 2 * 16]
    assert x.grad is None and w.grad is None and h.grad is None


def test_grad_of_an_unused_input_needs_allow_unused(device):
    x = ag.randn(2, device=device, requires_grad=True)
    z = ag.randn(2, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        ag.grad((x * 2).sum(), [x, z])
    gx, gz = ag.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gx.tolist() == [2.0, 2.0] and gz is None


def test_grad_runs_only_the_ops_that_lead_to_its_inputs(device):
    calls = []

    class Scale(ag.Function):  # records which input gradients each backward was asked for
        def forward(self, x, w):
            return x * w

        def backward(self, g):
            calls.append(self.needs_input_grad)
            x, w = self.inputs
            return (g * w if self.needs_input_grad[0] else None,
                    g * x if self.needs_input_grad[1] else None)

    x = ag.randn(3, device=device, requires_grad=True)
    w1 = ag.randn(3, device=device, requires_grad=True)
    w2 = ag.randn(3, device=device, requires_grad=True)
    branch = Scale.apply(w2, w2)  # does not lead to x
    loss = (Scale.apply(Scale.apply(x, w1), w1) + branch).sum()
    (gx,) = ag.grad(loss, [x], retain_graph=True)
    assert calls == [(True, False), (True, False)]  # no weight gradients, no branch
    np.testing.assert_allclose(gx.numpy(), (w1 * w1).numpy(), rtol=1e-6)
    calls.clear()
    loss.backward()  # the retained graph still gives every gradient
    assert sorted(calls) == [(True, True)] * 3 and w2.grad is not None


def test_grad_with_create_graph_gives_differentiable_gradients(device):
    x = ag.tensor([0.5, -1.0], device=device, dtype=np.float64, requires_grad=True)
    (g,) = ag.grad((x ** 3).sum(), [x], create_graph=True)  # 3 x^2
    (gg,) = ag.grad(g.sum(), [x])                            # 6 x
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    np.testing.assert_allclose(gg.numpy(), 6 * x.numpy())


def test_a_gradient_penalty_backpropagates_into_the_weights(device):
    w = ag.tensor([[2.0], [-1.0]], device=device, dtype=np.float64, requires_grad=True)
    x = ag.tensor([[0.3, 0.7]], device=device, dtype=np.float64, requires_grad=True)
    (gx,) = ag.grad((x @ w).tanh().sum(), [x], create_graph=True)
    (gx * gx).sum().backward()
    assert x.grad is not None and w.grad is not None

    def penalty(w):  # gradcheck evaluates under no_grad; the penalty needs a graph
        with ag.enable_grad():
            (gx,) = ag.grad((x @ w).tanh().sum(), [x], create_graph=True)
            return (gx * gx).sum()
    ag.gradcheck(penalty, [w])


def test_retain_grad_keeps_the_gradient_of_a_non_leaf(device):
    x = ag.tensor([1.0, 2.0], device=device, requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    assert h.grad.tolist() == [6.0, 12.0] and x.grad.tolist() == [18.0, 36.0]


def test_backward_frees_the_graph_while_the_loss_is_still_alive(device):
    x = ag.randn(4, 3, device=device, requires_grad=True)
    h = x.tanh()
    hidden = weakref.ref(h)
    loss = (h * 2).sum()
    del h
    assert hidden() is not None  # the graph holds it ...
    loss.backward()
    assert hidden() is None      # ... until backward has used it


def _live_functions():
    return sum(isinstance(o, ag.Function) for o in gc.get_objects())


def test_a_thousand_training_steps_do_not_grow_memory(device):
    ag.manual_seed(0)
    w = ag.randn(8, 8, device=device, requires_grad=True)
    x = ag.randn(16, 8, device=device)

    def step():
        loss = ((x @ w).tanh() ** 2).mean()
        w.grad = None
        loss.backward()
        with ag.no_grad():
            w.sub_(0.01 * w.grad)

    for _ in range(20):
        step()
    gc.collect()  # (a full collection also empties CPython's free lists)
    functions_before = _live_functions()
    tracemalloc.start()
    start, _ = tracemalloc.get_traced_memory()
    gc.disable()  # reference counting alone must free each graph: it holds no cycles
    try:
        for _ in range(1000):
            step()
        functions_after = _live_functions()
    finally:
        gc.enable()
    gc.collect()
    end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert functions_after == functions_before
    assert end - start < 50_000, f"1000 steps kept {end - start} bytes"  # a graph is ~10 kB


def test_grad_refuses_grad_outputs_of_the_wrong_shape():
    x = ag.randn(3, requires_grad=True)
    y = x * 2
    with pytest.raises(ValueError, match=r"grad\(\): grad_outputs has shape \(2,\)"):
        ag.grad(y, [x], grad_outputs=ag.ones(2))


def test_grad_refuses_a_grad_outputs_list_of_another_length():
    """zip would drop y2's gradient silently; as in PyTorch, the lengths must agree."""
    x = ag.randn(3, requires_grad=True)
    y1, y2 = x * 2, x * 3
    with pytest.raises(ValueError, match=r"grad\(\): 2 outputs but 1 grad_outputs"):
        ag.grad([y1, y2], [x], grad_outputs=[ag.ones(3)])
    with pytest.raises(ValueError, match=r"grad\(\): 1 outputs but 2 grad_outputs"):
        ag.grad(y1, [x], grad_outputs=[ag.ones(3), ag.ones(3)])
    assert ag.grad([y1, y2], [x], grad_outputs=[ag.ones(3), ag.ones(3)])[0].tolist() == [5.0] * 3
