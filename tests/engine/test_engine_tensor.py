"""The Tensor API and the backend: constructors (tensor copies, as_tensor shares), dtypes
(float32 by default, float64 end to end, integer tensors for indices), manual_seed, repr,
conversions, devices (the CuPy install hint, mixed-device errors, the default device and
MINIGEN_DEVICE)."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import autograd as ag
from autograd import backend
from autograd.ops import attention, norm


def test_constructors_give_float32_by_default_and_int64_for_integers(device):
    assert ag.tensor([1.0, 2.0], device=device).dtype == np.float32
    assert ag.tensor([1, 2], device=device).dtype == np.int64
    assert ag.tensor([True], device=device).dtype == np.bool_
    for t in (ag.zeros(2, 3, device=device), ag.ones((2, 3), device=device),
              ag.full((2, 3), 7.0, device=device), ag.randn(2, 3, device=device),
              ag.rand(2, 3, device=device)):
        assert t.shape == (2, 3) and t.dtype == np.float32 and t.device == device
    assert ag.full((2,), 7.0, device=device).tolist() == [7.0, 7.0]
    assert ag.arange(4, device=device).tolist() == [0, 1, 2, 3]
    assert ag.arange(4, device=device).dtype == np.int64
    assert ag.arange(0, 1, 0.25, device=device).dtype == np.float32
    r = ag.randint(0, 5, (100,), device=device)
    assert r.dtype == np.int64 and 0 <= r.numpy().min() and r.numpy().max() < 5
    u = ag.rand(1000, device=device).numpy()
    assert 0 <= u.min() and u.max() < 1


def test_like_constructors_copy_shape_dtype_and_device(device):
    t = ag.zeros(2, 3, dtype=np.float64, device=device)
    for like in (ag.zeros_like(t), ag.ones_like(t), ag.randn_like(t), ag.rand_like(t)):
        assert (like.shape, like.dtype, like.device) == ((2, 3), np.float64, device)
    assert ag.ones_like(t, requires_grad=True).requires_grad


def test_tensor_copies_its_array_and_keeps_its_dtype():
    a = np.zeros(3, np.float64)
    t = ag.tensor(a)
    a[0] = 5.0
    assert t.dtype == np.float64 and t.tolist() == [0.0, 0.0, 0.0]
    u = ag.tensor(t)
    t.data[1] = 2.0
    assert u.tolist() == [0.0, 0.0, 0.0]


def test_as_tensor_shares_the_array_and_copies_only_to_move_or_cast(device):
    a = backend.xp_for(device).zeros(3, dtype=np.float64)
    t = ag.as_tensor(a)
    a[0] = 5.0  # the same memory: a change to the array shows in the tensor
    assert t.data is a and t.tolist() == [5.0, 0.0, 0.0] and t.dtype == np.float64
    assert t.is_leaf and not t.requires_grad
    assert ag.as_tensor(a, dtype=np.float64, device=device).data is a  # nothing to do
    f = ag.as_tensor(a, dtype=np.float32)
    assert f.dtype == np.float32 and f.data is not a
    on_cpu = ag.as_tensor(a, device='cpu')
    assert on_cpu.device == 'cpu' and on_cpu.tolist() == [5.0, 0.0, 0.0]
    assert ag.as_tensor(t) is t


def test_as_tensor_refuses_numbers_and_lists():
    for value in (1.5, [1.0, 2.0]):
        with pytest.raises(TypeError, match=r"as_tensor: expected a NumPy or CuPy array, got "
                                            r"(float|list); use autograd.tensor"):
            ag.as_tensor(value)


def test_float64_stays_float64_end_to_end(device):
    x = ag.randn(3, 4, dtype=np.float64, device=device, requires_grad=True)
    w = ag.randn(4, 2, dtype=np.float64, device=device, requires_grad=True)
    loss = ((x @ w).tanh() * 0.5 + 1).softmax(-1).log().mean()
    assert loss.dtype == np.float64
    loss.backward()
    assert x.grad.dtype == np.float64 and w.grad.dtype == np.float64


def test_mixing_float32_and_float64_casts_each_gradient_to_its_input_dtype(device):
    a = ag.ones(3, device=device, requires_grad=True)
    b = ag.ones(3, dtype=np.float64, device=device, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_integer_tensors_refuse_requires_grad(device):
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        ag.tensor([1, 2], device=device, requires_grad=True)
    with pytest.raises(TypeError, match="int64"):
        ag.arange(3, device=device).requires_grad_()


def test_casting_to_an_integer_type_leaves_the_graph(device):
    x = ag.tensor([1.7, -2.2], device=device, requires_grad=True)
    assert not x.long().requires_grad and x.long().tolist() == [1, -2]
    y = x.double()
    assert y.requires_grad and y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32


def test_manual_seed_makes_random_tensors_reproducible(device):
    ag.manual_seed(123)
    a, b = ag.randn(5, device=device).numpy(), ag.rand(5, device=device).numpy()
    ag.manual_seed(123)
    np.testing.assert_array_equal(ag.randn(5, device=device).numpy(), a)
    np.testing.assert_array_equal(ag.rand(5, device=device).numpy(), b)
    ag.manual_seed(124)
    assert not np.array_equal(ag.randn(5, device=device).numpy(), a)


def test_repr_shows_values_shape_dtype_device_and_grad(device):
    x = ag.tensor([1.5, 2.0], device=device, requires_grad=True)
    r = repr(x)
    assert r.startswith('tensor([1.5, 2. ]') and "shape=(2,)" in r and "dtype=float32" in r
    assert f"device='{device}'" in r and "requires_grad=True" in r and "grad_fn" not in r
    assert "grad_fn=Mul" in repr(x * 2) and "requires_grad" not in repr(ag.zeros(1))


def test_conversions_item_tolist_numpy_detach_bool(device):
    x = ag.tensor([[1.0, 2.0]], device=device, requires_grad=True)
    assert x.sum().item() == 3.0 and isinstance(x.sum().item(), float)
    assert x.tolist() == [[1.0, 2.0]] and isinstance(x.numpy(), np.ndarray)
    assert len(x) == 1 and x.ndim == 2 and x.size == 2 and x.numel() == 2
    d = (x * 2).detach()
    assert not d.requires_grad and d.creator is None and d.tolist() == [[2.0, 4.0]]
    assert bool(ag.tensor([0.5], device=device)) and not bool(ag.tensor(0.0, device=device))
    with pytest.raises(ValueError, match=r"item\(\): only a one-element tensor .* \(1, 2\)"):
        x.item()
    with pytest.raises(RuntimeError, match=r"truth value of a tensor of shape \(1, 2\)"):
        bool(x)


def test_operators_accept_numpy_arrays_and_scalars_on_either_side(device):
    x = ag.tensor([1.0, 2.0], device=device, requires_grad=True)
    a = np.array([10.0, 20.0])
    for y, want in ((x + a, [11, 22]), (a - x, [9, 18]), (a * x, [10, 40]), (x / a, [.1, .1]),
                    (2 ** x, [2, 4]), (x ** 2, [1, 4]), (-x, [-1, -2])):
        assert y.dtype == np.float32 and y.requires_grad
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-6)


def test_cuda_without_cupy_fails_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(backend, 'cp', None)
    for ask in (lambda: ag.zeros(2, device='cuda'), lambda: ag.zeros(2).to('cuda'),
                lambda: ag.set_default_device('cuda'), lambda: ag.randn(2, device='cuda:0')):
        with pytest.raises(RuntimeError, match=r"CuPy is not installed.*pip install cupy"):
            ask()
    assert ag.get_default_device() == 'cpu'


def test_cuda_without_a_gpu_says_cupy_finds_none(monkeypatch):
    monkeypatch.setattr(backend, 'cp', object())  # CuPy imports ...
    monkeypatch.setattr(backend, 'gpu_available', lambda: False)  # ... but sees no GPU
    with pytest.raises(RuntimeError, match="CuPy finds no CUDA GPU.*pip install cupy"):
        ag.ones(1, device='cuda')


def test_an_unknown_device_is_named():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        ag.zeros(1, device='tpu')


def test_set_default_device_decides_where_new_tensors_live():
    before = ag.get_default_device()
    try:
        ag.set_default_device('cpu')
        assert ag.zeros(1).device == 'cpu' and ag.randn(1).device == 'cpu'
    finally:
        ag.set_default_device(before)


def test_minigen_device_cuda_without_cupy_asks_for_cupy_at_the_first_tensor():
    code = ("import autograd as ag; from autograd import backend; backend.cp = None; "
            "print(ag.get_default_device());\n"
            "try: ag.zeros(1)\nexcept RuntimeError as e: print(e)")
    env = dict(os.environ, MINIGEN_DEVICE='cuda')
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert out.stdout.splitlines()[0] == 'cuda', out.stderr
    assert 'pip install cupy' in out.stdout


def test_a_mixed_device_op_names_the_op_and_both_devices(monkeypatch):
    x, y = ag.ones(2), ag.ones(2)
    on_gpu = {id(y.data)}  # pretend y lives on the GPU
    monkeypatch.setattr(backend, 'device_of', lambda a: 'cuda' if id(a) in on_gpu else 'cpu')
    if backend.cp is None:  # the engine checks devices only where CuPy is loaded: pretend it is
        monkeypatch.setattr(backend, 'cp', types.SimpleNamespace(ndarray=type('NoArray', (), {})))
    with pytest.raises(RuntimeError, match=r"Mul: inputs are on different devices \(cpu and "
                                           r"cuda\); move them with .to\(device\)"):
        x * y


def test_an_error_inside_a_forward_keeps_its_message_and_notes_the_op_and_shapes(device):
    with pytest.raises(ValueError, match="(?i)broadcast") as err:  # NumPy's (or CuPy's) message
        ag.ones(2, 3, device=device) + ag.ones(4, device=device)
    assert err.value.__notes__ == ["in Add.forward, with input shapes (2, 3), (4,)"]


@pytest.mark.skipif(not ag.gpu_available(), reason='needs CuPy and a GPU')
def test_a_mixed_device_op_on_a_real_gpu_names_both_devices():
    with pytest.raises(RuntimeError, match=r"Add: inputs are on different devices \(cuda and cpu"):
        ag.ones(2, device='cuda') + ag.ones(2)


def test_numpy_of_a_tensor_cannot_be_written_into_behind_the_graph(device):
    """x.exp() saves its output for the backward; a write into y.numpy() would change
    x.grad silently. On the CPU numpy() is a read-only view, off the GPU a copy."""
    x = ag.tensor([1.0, 2.0], dtype=np.float64, device=device, requires_grad=True)
    y = x.exp()
    a = y.numpy()
    if device == 'cpu':
        assert np.shares_memory(a, y.data)
        with pytest.raises(ValueError, match="read-only"):
            a[...] = 0
    else:
        a[...] = 0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]))
    b = y.numpy().copy()
    b[0] = 5.0  # a copy is the caller's to change
    assert y.tolist()[0] == np.exp(1.0)


@pytest.mark.parametrize('call', [
    lambda: ag.exp(2.0), lambda: ag.relu(np.ones(3)), lambda: ag.tanh([1.0]),
    lambda: ag.softmax(np.ones(3)), lambda: ag.log_softmax(np.ones(3)),
    lambda: ag.matmul(np.ones((2, 2)), ag.ones(2, 2)), lambda: ag.mean(np.ones(3)),
    lambda: ag.reshape(np.ones(2), (2, 1)), lambda: ag.flatten(np.ones((2, 2))),
    lambda: ag.squeeze(np.ones(2)), lambda: ag.unsqueeze(np.ones(2), 0),
    lambda: ag.cat([np.ones(2), ag.ones(2)]), lambda: ag.stack([ag.ones(2), np.ones(2)]),
    lambda: ag.split(np.ones(2), 1), lambda: ag.chunk(np.ones(2), 2),
    lambda: ag.pad(np.ones(2), (1, 1)), lambda: ag.gather(np.ones(2), 0, [0]),
    lambda: ag.embedding(ag.tensor([0]), np.ones((2, 2))), lambda: ag.clip(np.ones(2), 0, 1),
    lambda: ag.softmax(2.0), lambda: ag.matmul(2.0, ag.ones(2)),
    lambda: norm.layer_norm(np.ones((2, 3)), 3), lambda: norm.group_norm(np.ones((2, 2, 3)), 1),
    lambda: norm.batch_norm(np.ones((2, 3)), None, None),
    lambda: attention.scaled_dot_product_attention(np.ones((2, 2)), ag.ones(2, 2), ag.ones(2, 2))],
    ids=['exp', 'relu', 'tanh', 'softmax', 'log_softmax', 'matmul', 'mean', 'reshape',
         'flatten', 'squeeze', 'unsqueeze', 'cat', 'stack', 'split', 'chunk', 'pad', 'gather',
         'embedding', 'clip', 'softmax_of_a_float', 'matmul_of_a_float', 'layer_norm',
         'group_norm', 'batch_norm', 'attention'])
def test_an_op_given_an_array_or_a_number_says_it_expected_a_tensor(call):
    """As torch.exp(2.0) does, the op refuses and names itself; no AttributeError from
    inside the engine."""
    with pytest.raises(TypeError, match=r"^\w+: expected a Tensor .*, got (float|list|ndarray); "
                                        r"wrap it with autograd\.tensor"):
        call()


class _NeedsTwoArguments(Exception):
    def __init__(self, code, detail):
        super().__init__(f"{code}: {detail}")


class _RaisesAnErrorThatNeedsTwoArguments(ag.Function):
    def forward(self, x):
        raise _NeedsTwoArguments(7, "refused")


def test_an_error_of_any_class_inside_a_forward_keeps_its_class_and_gets_the_note(device):
    """The note is added to the error itself (no re-raise of type(e)(message), which fails
    for a class whose constructor needs other arguments), so a string tensor's error reads."""
    with pytest.raises(_NeedsTwoArguments, match="7: refused") as err:
        _RaisesAnErrorThatNeedsTwoArguments.apply(ag.ones(2, device=device))
    assert err.value.__notes__ == ["in _RaisesAnErrorThatNeedsTwoArguments.forward, with input "
                                   "shapes (2,)"]
    with pytest.raises(TypeError) as err:
        ag.tensor(np.array(['a', 'b'])).exp()
    assert err.value.__notes__ == ["in Exp.forward, with input shapes (2,)"]
