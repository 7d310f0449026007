"""autograd/parallel.py: passes split over threads give the same numbers as whole passes.

The tests run with OMP_NUM_THREADS=1 (no split) as often as not, so each one here forces
the split (2 threads, any size) and compares with the unsplit run, bit for bit: rows never
mix, so the numbers must be identical."""
import numpy as np
import pytest

import autograd as ag
from autograd import parallel


@pytest.fixture
def split(monkeypatch):
    """Split every pass over 3 threads (more than the rows of some inputs), whatever its size."""
    monkeypatch.setattr(parallel, 'MIN_SIZE', 0)
    monkeypatch.setattr(parallel, '_pool', None)
    before = parallel.get_num_threads()
    parallel.set_num_threads(3)
    yield
    parallel.set_num_threads(before)


def _run(fn, shapes, seed):
    """fn's output and the gradients of its inputs for a random upstream gradient."""
    rng = np.random.default_rng(seed)
    xs = [ag.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes]
    out = fn(*xs)
    out.backward(ag.tensor(rng.standard_normal(out.shape).astype(np.float32)))
    return [out.numpy().copy()] + [x.grad.numpy().copy() for x in xs]


CASES = {
    'gelu': (ag.gelu, [(5, 7, 3)]),
    'attention': (lambda q, k, v: ag.ops.attention.scaled_dot_product_attention(q, k, v),
                  [(5, 2, 4, 3), (5, 2, 6, 3), (5, 2, 6, 2)]),
    'causal_attention': (lambda q, k, v: ag.ops.attention.scaled_dot_product_attention(
        q, k, v, is_causal=True), [(3, 2, 4, 3), (3, 2, 4, 3), (3, 2, 4, 5)]),
    'conv2d': (lambda x, w, b: ag.ops.conv.conv2d(x, w, b, padding=1), [(3, 4, 5, 6), (5, 4, 3, 3), (5,)]),
    'conv2d_strided': (lambda x, w: ag.ops.conv.conv2d(x, w, stride=2, padding=1), [(3, 4, 5, 6), (5, 4, 3, 3)]),
    'conv_transpose2d': (lambda x, w, b: ag.ops.conv.conv_transpose2d(x, w, b, stride=2, padding=1),
                         [(3, 4, 5, 6), (4, 5, 4, 4), (5,)]),
    'group_norm_silu': (lambda x, w, b: ag.ops.norm.group_norm_silu(x, 2, w, b),
                        [(5, 4, 3, 3), (4,), (4,)]),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_a_split_pass_equals_the_whole_pass(name, split):
    fn, shapes = CASES[name]
    parallel.set_num_threads(1)
    whole = _run(fn, shapes, seed=0)
    parallel.set_num_threads(3)
    for a, b in zip(_run(fn, shapes, seed=0), whole):
        np.testing.assert_array_equal(a, b)


def test_a_split_forward_without_a_graph_equals_the_whole_one(split):
    """group_norm_silu under no_grad takes its in-place path, split the same way."""
    x = ag.tensor(np.random.default_rng(0).standard_normal((5, 4, 3, 3)).astype(np.float32))
    outs = []
    for threads in (1, 3):
        parallel.set_num_threads(threads)
        with ag.no_grad():
            outs.append(ag.ops.norm.group_norm_silu(x, 2).numpy())
    np.testing.assert_array_equal(*outs)


def test_over_rows_covers_every_row_once_and_reraises(split):
    x = np.arange(10.0)
    out = np.zeros(10)

    def body(a, o):
        o += a + 1

    parallel.over_rows(body, x, out)
    np.testing.assert_array_equal(out, x + 1)

    def fails(a):
        if a[0] > 0:
            raise ValueError('piece failed')

    with pytest.raises(ValueError, match='piece failed'):
        parallel.over_rows(fails, x)


def test_openblas_workers_sleep_at_once_unless_the_user_chose():
    """Importing autograd sets OpenBLAS's spin timeout to 2^4 cycles (parallel.py says why);
    a value the user set beforehand is left as it is."""
    import ctypes
    import os
    import subprocess
    import sys
    lib = parallel._loaded_openblas()
    if lib is None:
        pytest.skip('NumPy is not on OpenBLAS here')
    lib.openblas_thread_timeout.restype = ctypes.c_int
    assert lib.openblas_thread_timeout() == int(os.environ['OPENBLAS_THREAD_TIMEOUT'])
    code = ('import ctypes, autograd; from autograd import parallel; '
            'lib = parallel._loaded_openblas(); lib.openblas_thread_timeout.restype = ctypes.c_int; '
            'print(lib.openblas_thread_timeout())')
    env = {k: v for k, v in os.environ.items() if k != 'OPENBLAS_THREAD_TIMEOUT'}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, '-c', code], env=env, cwd=root, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '4'
    env['OPENBLAS_THREAD_TIMEOUT'] = '20'
    out = subprocess.run([sys.executable, '-c', code], env=env, cwd=root, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '20'
