"""Shape ops, table-driven: each registry entry draws a tensor and the op's arguments
for its shape (a target shape, a permutation, an index, pieces to join, pad widths),
and gives the autograd call and its NumPy reference. One forward test and one
gradient test run the whole table; the gradient of a shape op moves each element's
gradient back where it came from, summing where an element was used twice (repeated
integer indices, broadcasting)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
from autograd.testing import shapes, tensors, assert_gradients_close


def x_of(data, device, **shape_kw):
    return data.draw(tensors(shapes(**shape_kw), noncontiguous=True, device=device), label='x')


# Each case: (data, device) -> (inputs, autograd fn, NumPy reference).
def reshape(data, device):
    x = data.draw(tensors(shapes(), device=device))
    n = x.size
    target = data.draw(st.sampled_from([(n,), (-1,), x.shape[::-1], (1,) + x.shape,
                                        x.shape + (1, 1), (1, -1)]))
    return [x], (lambda x: x.reshape(target)), (lambda a: a.reshape(target))


def permute(data, device):
    x = x_of(data, device)
    order = data.draw(st.permutations(range(x.ndim)))
    return [x], (lambda x: x.permute(order)), (lambda a: a.transpose(order))


def transpose(data, device):
    x = x_of(data, device, min_dims=1)
    a, b = data.draw(st.integers(-x.ndim, x.ndim - 1)), data.draw(st.integers(-x.ndim, x.ndim - 1))
    return [x], (lambda x: x.transpose(a, b)), (lambda y: np.swapaxes(y, a, b))


def basic_index(data, device):  # ints (negative too), slices with steps, None, Ellipsis
    x = x_of(data, device)
    index = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True))
    return [x], (lambda x: x[index]), (lambda a: a[index])


def integer_array_index(data, device):  # repeated indices: their gradients add up
    x = x_of(data, device, min_dims=1)
    index = data.draw(hnp.integer_array_indices(x.shape, result_shape=shapes(max_dims=2)))
    return [x], (lambda x: x[index]), (lambda a: a[index])


def mixed_index(data, device):  # a slice, then an integer array (a list) on the next axis
    x = x_of(data, device, min_dims=2)
    rows = data.draw(st.lists(st.integers(-x.shape[1], x.shape[1] - 1), min_size=1, max_size=4))
    return [x], (lambda x: x[1:, rows]), (lambda a: a[1:, rows])


def boolean_mask(data, device):
    x = x_of(data, device, min_dims=1)
    mask = data.draw(hnp.arrays(np.bool_, x.shape))
    return [x], (lambda x: x[ag.tensor(mask, device=device)]), (lambda a: a[mask])


def cat(data, device):
    base = data.draw(shapes(min_dims=1))
    axis = data.draw(st.integers(-len(base), len(base) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    xs = [data.draw(tensors(base[:axis % len(base)] + (n,) + base[axis % len(base) + 1:],
                            noncontiguous=True, device=device)) for n in sizes]
    return xs, (lambda *xs: ag.cat(xs, axis)), (lambda *a: np.concatenate(a, axis))


def stack(data, device):
    shape = data.draw(shapes())
    xs = [data.draw(tensors(shape, device=device)) for _ in range(data.draw(st.integers(1, 3)))]
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    return xs, (lambda *xs: ag.stack(xs, axis)), (lambda *a: np.stack(a, axis))


def split(data, device):
    x = x_of(data, device, min_dims=1)
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    size = data.draw(st.integers(1, 4))
    n = x.shape[axis]
    return [x], (lambda x: x.split(size, axis)), \
        (lambda a: np.split(a, list(range(size, n, size)), axis))


def chunk(data, device):
    x = x_of(data, device, min_dims=1)
    chunks = data.draw(st.integers(1, 4))
    n = x.shape[0]
    size = -(-n // chunks)
    return [x], (lambda x: ag.chunk(x, chunks)), \
        (lambda a: np.split(a, list(range(size, n, size))))


def pad(data, device):
    x = x_of(data, device, min_dims=1)
    widths = data.draw(st.lists(st.integers(0, 2), min_size=2, max_size=2 * x.ndim)
                       .filter(lambda w: len(w) % 2 == 0))
    np_widths = [(0, 0)] * (x.ndim - len(widths) // 2) + \
        [(widths[2 * i], widths[2 * i + 1]) for i in reversed(range(len(widths) // 2))]
    return [x], (lambda x: ag.pad(x, widths, value=0.5)), \
        (lambda a: np.pad(a, np_widths, constant_values=0.5))


def broadcast_to(data, device):
    x = x_of(data, device)
    target = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=1, base_shape=x.shape,
                                                        max_side=3)).result_shape
    return [x], (lambda x: x.broadcast_to(target)), (lambda a: np.broadcast_to(a, target))


def squeeze(data, device):
    x = data.draw(tensors(shapes(max_side=2), device=device))
    ones = [i for i, n in enumerate(x.shape) if n == 1]
    axis = data.draw(st.none() | st.sampled_from(ones or [None]) |
                     st.just(tuple(ones)))
    return [x], (lambda x: x.squeeze(axis)), (lambda a: np.squeeze(a, axis))


def unsqueeze(data, device):
    x = x_of(data, device)
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim))
    return [x], (lambda x: x.unsqueeze(axis)), (lambda a: np.expand_dims(a, axis))


def flatten(data, device):
    x = x_of(data, device, min_dims=1)
    start = data.draw(st.integers(0, x.ndim - 1))
    end = data.draw(st.integers(start, x.ndim - 1))
    merged = x.shape[:start] + (-1,) + x.shape[end + 1:]
    return [x], (lambda x: x.flatten(start, end)), (lambda a: a.reshape(merged))


def gather(data, device):
    x = x_of(data, device, min_dims=1)
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    shape = list(x.shape)
    shape[axis] = data.draw(st.integers(1, 4))
    index = data.draw(hnp.arrays(np.int64, tuple(shape),
                                 elements=st.integers(0, x.shape[axis] - 1)))
    return [x], (lambda x: ag.gather(x, axis, index)), \
        (lambda a: np.take_along_axis(a, index, axis))


def embedding(data, device):
    weight = data.draw(tensors(shapes(min_dims=2, max_dims=2), device=device))
    ids = data.draw(hnp.arrays(np.int64, shapes(max_dims=2),
                               elements=st.integers(0, weight.shape[0] - 1)))
    idx = ag.tensor(ids, device=device)
    return [weight], (lambda w: ag.embedding(idx, w)), (lambda w: w[ids])


CASES = [reshape, permute, transpose, basic_index, integer_array_index, mixed_index,
         boolean_mask, cat, stack, split, chunk, pad, broadcast_to, squeeze, unsqueeze,
         flatten, gather, embedding]
ids = [c.__name__ for c in CASES]


@pytest.mark.parametrize('case', CASES, ids=ids)
@given(data=st.data())
def test_forward_matches_numpy(case, device, data):
    xs, fn, ref = case(data, device)
    got, want = fn(*xs), ref(*[x.numpy() for x in xs])
    got, want = (got, want) if isinstance(got, list) else ([got], [want])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_array_equal(g.numpy(), w)


@pytest.mark.parametrize('case', CASES, ids=ids)
@given(data=st.data())
def test_gradient_matches_finite_differences(case, device, data):
    xs, fn, _ = case(data, device)
    assert_gradients_close(fn, *xs)


@pytest.mark.parametrize('case', CASES, ids=ids)
@settings(max_examples=6)
@given(data=st.data())
def test_second_derivative_matches_finite_differences(case, device, data):
    """Squared (below), so that the second derivative in x is not 0; gradgradcheck also
    checks each backward's graph in the upstream gradient (IndexAdd, ScatterAdd, ...)."""
    xs, fn, _ = case(data, device)
    assert_gradients_close(lambda *xs: _square(fn(*xs)), *xs, gradgrad=True)


def _square(out):  # a shape op is linear: square it so the second derivative is not 0
    return [o * o for o in out] if isinstance(out, list) else out * out


@pytest.mark.parametrize('index', [(None, [0, 0, 2]), (Ellipsis, [1, 1]), (1, [0, 0]),
                                   (slice(None), None, [0, 3]), ([0, 2], [1, 1]),
                                   (np.array([[0], [2]]), np.array([[1, 3]])), (-1, Ellipsis)],
                         ids=str)
def test_getitem_mixing_none_ellipsis_ints_slices_and_arrays(index, device):
    x = ag.randn(3, 4, dtype=np.float64, device=device)
    np.testing.assert_array_equal(x[index].numpy(), x.numpy()[index])
    assert ag.gradcheck(lambda x: x[index], [x])


def test_repeated_integer_indices_add_their_gradients(device):
    x = ag.zeros(3, device=device, requires_grad=True)
    x[[0, 2, 0, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


def test_to_moves_between_devices_and_the_gradient_comes_back(device):
    x = ag.randn(2, 3, requires_grad=True)
    y = x.to(device)
    assert y.device == device
    (y * 2).sum().backward()
    assert x.grad.device == 'cpu' and x.grad.tolist() == [[2.0] * 3] * 2


def test_shape_op_errors_name_the_op_and_shapes(device):
    x = ag.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match=r"reshape: cannot view a tensor of shape \(2, 3\)"):
        x.reshape(4, -1)
    with pytest.raises(ValueError, match=r"cat: shapes \[\(2, 3\), \(3, 2\)\] differ"):
        ag.cat([x, ag.zeros(3, 2, device=device)], axis=1)
    with pytest.raises(ValueError, match="stack: all tensors need the same shape"):
        ag.stack([x, ag.zeros(3, 2, device=device)])
    with pytest.raises(ValueError, match=r"split: sizes \[1, 2, 1\] do not add up to 3"):
        x.split([1, 2, 1], axis=1)
    with pytest.raises(IndexError, match=r"unsqueeze: axis 4 is out of range"):
        x.unsqueeze(4)
    with pytest.raises(ValueError, match=r"permute: \(0, 0\) is not a permutation"):
        x.permute(0, 0)
    with pytest.raises(IndexError, match=r"getitem: .* \(tensor of shape \(2, 3\)\)"):
        x[5]
    with pytest.raises(ValueError, match=r"broadcast_to: cannot broadcast shape \(2, 3\)"):
        x.broadcast_to((4, 3))
    with pytest.raises(ValueError, match="gather: index must be an integer array"):
        ag.gather(x, 0, np.zeros((2, 3)))
    with pytest.raises(TypeError, match="embedding: indices must be integers"):
        ag.embedding(np.zeros(3), x)


def test_gather_with_a_smaller_index_gathers_over_the_index_extent_as_pytorch(device):
    """torch.gather: out[i][j] = x[i][index[i][j]] for every (i, j) of the index, which may
    be smaller than x outside the gather axis (never broadcast against x)."""
    x = ag.tensor(np.arange(12.0).reshape(3, 4), dtype=np.float64, device=device)
    index = np.array([[3, 0], [1, 1]])
    assert ag.gather(x, 1, index).tolist() == [[3.0, 0.0], [5.0, 5.0]]
    assert ag.gather(x, 0, np.array([[2], [0]])).tolist() == [[8.0], [0.0]]
    assert ag.gradcheck(lambda x: ag.gather(x, 1, index) ** 2, [x])
    assert ag.gradgradcheck(lambda x: ag.gather(x, 1, index) ** 2, [x])
    with pytest.raises(ValueError, match=r"gather: index of shape \(4, 1\) is larger than the "
                                         r"input \(3, 4\) along axis 0"):
        ag.gather(x, 1, np.zeros((4, 1), np.int64))


def test_split_and_chunk_of_an_empty_axis_give_empty_pieces_as_pytorch(device):
    """torch.split gives one empty piece; torch.chunk gives `chunks` of them."""
    x = ag.zeros(0, 3, device=device)
    assert [p.shape for p in x.split(2)] == [(0, 3)]
    assert [p.shape for p in x.split(0)] == [(0, 3)]
    assert [p.shape for p in x.chunk(3)] == [(0, 3)] * 3
    assert [p.shape for p in ag.chunk(x, 2, axis=0)] == [(0, 3)] * 2
    with pytest.raises(ValueError, match="split: piece size must be positive"):
        ag.zeros(2).split(0)


@pytest.mark.parametrize('index, select_first', [
    ((slice(None), [0, 1], slice(None), 0), lambda a: a[:, :, :, 0][:, [0, 1]]),
    ((0, slice(None), [1, 0]), lambda a: a[0][:, [1, 0]]),
    ((slice(None), 1, slice(None), [3, 0, 0]), lambda a: a[:, 1][:, :, [3, 0, 0]]),
    ((Ellipsis, [1, 0], 2), lambda a: a[..., 2][..., [1, 0]]),
    ((None, slice(1, 4), [2, 0], 0, [1, 1]), lambda a: a[None, 1:4, :, 0][:, :, [2, 0], [1, 1]]),
    (([0, 4], slice(None), 1, [1, 0]), lambda a: a[:, :, 1][[0, 4], :, [1, 0]]),
], ids=['slice-list-slice-int', 'int-slice-list', 'slice-int-slice-list', 'ellipsis-list-int',
        'none-slice-list-int-list', 'list-slice-int-list'])
def test_indexing_with_ints_and_arrays_places_dimensions_as_pytorch(index, select_first, device):
    """PyTorch applies an int index first (select), then places the advanced-index
    dimensions by NumPy's rule for arrays alone: x[:, [0, 1], :, 0] of a (5, 3, 2, 4)
    tensor is (5, 2, 2), where NumPy, which counts the int as an advanced index, gives
    (2, 5, 2). Writing through the same index follows the same rule."""
    x = ag.randn(5, 3, 2, 4, dtype=np.float64, device=device)
    want = select_first(x.numpy())
    got = x[index]
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)
    assert ag.gradcheck(lambda x: x[index], [x])
    y = ag.zeros(5, 3, 2, 4, dtype=np.float64, device=device)
    y[index] = ag.ones(*want.shape, dtype=np.float64, device=device)
    positions = select_first(np.arange(y.size).reshape(y.shape))
    np.testing.assert_array_equal(y.numpy().reshape(-1), np.isin(np.arange(y.size), positions))
