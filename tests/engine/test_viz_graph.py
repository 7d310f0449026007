"""The picture of the graph (autograd/viz.py): what is drawn is the graph backward walks.

Boxes are counted in the pixels themselves: every box, and nothing else, is outlined in
viz.OUTLINE, so a box is a top-left corner of that colour."""
import re
import time

import numpy as np
import pytest

import autograd as ag
from autograd import viz
from autograd.function import _topological_order


def boxes_in(image):
    outline = np.all(np.asarray(image) == viz.OUTLINE, axis=-1)
    padded = np.pad(outline, 1)
    here, up, left = padded[1:-1, 1:-1], padded[:-2, 1:-1], padded[1:-1, :-2]
    right, down = padded[1:-1, 2:], padded[2:, 1:-1]
    return int((here & right & down & ~up & ~left).sum())


def graph_size(out):
    """Ops and leaves as the engine itself finds them (run_backward's walk)."""
    ops = _topological_order([out.creator])
    leaves = {id(t) for fn in ops for t in fn._inputs if t.creator is None}
    return len(ops) + len(leaves)


def small_mlp_loss():
    ag.manual_seed(0)
    x, y = ag.randn(5, 3), ag.randn(5, 1)
    w1, b1 = ag.randn(3, 4, requires_grad=True), ag.zeros(4, requires_grad=True)
    w2 = ag.randn(4, 1, requires_grad=True)
    loss = (((x @ w1 + b1).relu() @ w2 - y) ** 2).mean()
    return loss, {'x': x, 'y': y, 'w1': w1, 'b1': b1, 'w2': w2}


def test_the_picture_has_one_box_per_node_of_the_graph():
    loss, names = small_mlp_loss()
    nodes = viz.trace(loss, names)
    assert len(nodes) == graph_size(loss) == 14  # 8 ops (mean is Sum, Div), 6 leaves
    assert boxes_in(ag.draw_graph(loss, names=names)) == len(nodes)


def test_a_shared_subexpression_is_drawn_once():
    x = ag.randn(3, 4, requires_grad=True)
    w = ag.randn(4, 2, requires_grad=True)
    h = x @ w  # read three times
    loss = (h * h + h.tanh()).sum()
    nodes = viz.trace(loss, {'x': x, 'w': w})
    assert [n.fn.name for n in nodes if n.fn].count('MatMul') == 1
    assert len(nodes) == graph_size(loss) == 7  # Sum, Add, Mul, Tanh, MatMul, x, w
    assert boxes_in(ag.draw_graph(loss)) == 7
    matmul = next(i for i, n in enumerate(nodes) if n.fn and n.fn.name == 'MatMul')
    assert sum(matmul in n.inputs for n in nodes) == 2  # Mul (h * h is one arrow) and Tanh


def test_every_arrow_points_down_the_layers():
    loss, names = small_mlp_loss()
    nodes = viz.trace(loss, names)
    assert nodes[0].depth == 0
    assert all(nodes[j].depth > n.depth for n in nodes for j in n.inputs)


def test_a_chain_of_10000_ops_is_traced_drawn_and_exported_without_recursion():
    x = ag.randn(2, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y.tanh()
    start = time.perf_counter()
    nodes = viz.trace(y)
    dot = ag.to_dot(y)
    image = ag.draw_graph(y)
    assert time.perf_counter() - start < 10
    assert len(nodes) == 10_001 and max(n.depth for n in nodes) == 10_000
    assert dot.count(' -> ') == 10_000
    # one box per row, each centred: the middle column crosses a top and a bottom edge per box
    column = np.all(np.asarray(image)[:, image.width // 2] == viz.OUTLINE, axis=-1)
    assert np.count_nonzero(column[1:] & ~column[:-1]) == 2 * 10_001


def test_a_picture_past_pillows_size_limit_is_refused_with_a_pointer_to_dot(monkeypatch):
    from PIL import Image
    loss, names = small_mlp_loss()
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 1000)
    with pytest.raises(ValueError, match='to_dot'):
        ag.draw_graph(loss, names=names)


def test_the_dot_export_names_every_node_and_arrow():
    loss, names = small_mlp_loss()
    dot = ag.to_dot(loss, names)
    labels = re.findall(r'n\d+ \[label="([^"]*)"', dot)
    assert len(labels) == len(viz.trace(loss))
    first_lines = {label.split('\\n')[0] for label in labels}
    assert set(names) <= first_lines
    assert {'Div', 'Sum', '5', 'PowScalar', 'Sub', 'MatMul', 'Relu', 'Add'} <= first_lines
    assert dot.count(' -> ') == sum(len(n.inputs) for n in viz.trace(loss))


def test_gradient_norms_are_those_backward_delivers():
    loss, names = small_mlp_loss()
    loss.backward(retain_graph=True)
    nodes = viz.trace(loss, names, grad_norms=True)
    by_name = {n.name: n for n in nodes if n.name}
    for name in ('w1', 'b1', 'w2'):
        expected = np.linalg.norm(names[name].grad.numpy())
        assert by_name[name].grad_norm == pytest.approx(expected, rel=1e-5)
        assert f'|grad| {expected:.3g}' in ag.to_dot(loss, names, grad_norms=True)
    assert by_name['x'].grad_norm is None  # requires no grad
    assert nodes[0].grad_norm == 1.0  # dL/dL
    assert all(n.grad_norm is not None for n in nodes if n.fn)
    assert names['w1'].grad is not None and names['x'].grad is None  # nothing accumulated
    before = names['w1'].grad.numpy().copy()
    ag.draw_graph(loss, names=names, grad_norms=True)
    np.testing.assert_array_equal(names['w1'].grad.numpy(), before)


def test_a_graph_freed_by_backward_says_how_to_keep_it():
    loss, _ = small_mlp_loss()
    loss.backward()
    with pytest.raises(RuntimeError, match='retain_graph=True'):
        ag.draw_graph(loss)


def test_a_leaf_alone_is_one_box():
    w = ag.randn(2, 2, requires_grad=True)
    assert boxes_in(ag.draw_graph(w, names={'w': w})) == 1
