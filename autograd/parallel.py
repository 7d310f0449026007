"""Row-parallel passes: one memory-bound pass over a big array, split across CPU threads.

NumPy releases the GIL inside ufuncs, reductions and matrix products, so two threads
that each run the same NumPy lines on half of an array's rows take about half the
time on two cores. BLAS already runs the matrix products on every core; the
elementwise passes around them (GELU, softmax, normalization) run on one core unless
someone splits them, as PyTorch's CPU kernels do. This is that split, and nothing more:

    def body(x, out):          # NumPy lines on whatever rows they are given
        np.tanh(x, out=out)
    out = np.empty_like(x)
    over_rows(body, x, out)    # body(x[:n/2], out[:n/2]) and body(x[n/2:], out[n/2:])

`body` writes its results into arrays it is given (split like the inputs), so the
result is the same numbers whichever way the rows were split: rows never mix.
The split happens only on the CPU, for arrays of at least MIN_SIZE elements (below
that the hand-off to a thread costs more than it saves) and with more than one thread
allowed: OMP_NUM_THREADS (or OPENBLAS_NUM_THREADS), as BLAS reads it, else the CPUs
this process may use. `set_num_threads(1)` turns it off.

One catch, and its fix (`openblas_threads_sleep_at_once`). After each matrix product
OpenBLAS's worker threads keep spinning, waiting for the next one, for 2^28 cycles
(about 0.1 s; its OPENBLAS_THREAD_TIMEOUT, default 28) before they sleep. A network
calls a product every few milliseconds, so with as many BLAS threads as cores they
never sleep, and our second thread shares its core with a spinning one: a split pass
then gains nothing (GroupNorm + SiLU on (16, 64, 32, 32), 2 cores: 9.0 ms whole, 9.0 ms
split; 5.8 ms split with the timeout at 2^4 cycles). PyTorch avoids this by running its
products and its elementwise kernels on one thread pool.
"""
import ctypes
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MIN_SIZE = 1 << 17  # elements of the first array; smaller passes run whole


def _default_threads():
    for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS'):
        try:
            return max(1, int(os.environ[var]))
        except (KeyError, ValueError):
            pass
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_threads = _default_threads()
_pool = None


def set_num_threads(n):
    """Split passes over at most n threads (1: never split)."""
    global _threads
    _threads = max(1, int(n))


def get_num_threads():
    return _threads


def openblas_threads_sleep_at_once(exponent=4):
    """Make NumPy's OpenBLAS put its workers to sleep 2^exponent cycles after a product
    (the minimum OpenBLAS accepts) instead of 2^28, unless OPENBLAS_THREAD_TIMEOUT is set
    already (the user's choice wins). OpenBLAS reads the variable once, when it starts its
    threads, so this sets it, has OpenBLAS read its environment again and stops its
    threads; the next product starts them with the new timeout. Returns True where that
    was done; a no-op (False) without an OpenBLAS in this process (NumPy built on MKL or
    Accelerate, or CuPy only)."""
    if 'OPENBLAS_THREAD_TIMEOUT' in os.environ:
        return False
    lib = _loaded_openblas()
    if lib is None:
        return False
    os.environ['OPENBLAS_THREAD_TIMEOUT'] = str(exponent)
    lib.openblas_read_env()
    lib.blas_thread_shutdown_()
    return True


def _loaded_openblas():
    """The OpenBLAS library that NumPy loaded (found in this process's memory map), with
    the two entry points used above; or None."""
    try:
        with open('/proc/self/maps') as maps:
            paths = {line.split()[-1] for line in maps if 'openblas' in line.lower()}
    except OSError:  # not Linux
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_read_env, lib.blas_thread_shutdown_  # both must exist
            return lib
        except (OSError, AttributeError):
            continue
    return None


def over_rows(body, *arrays):
    """body(*pieces) for pieces of `arrays` cut along their first axis (the same cut for
    all, which must share that axis's length), the pieces run in parallel threads; or
    body(*arrays) once, where splitting does not apply."""
    global _pool
    first = arrays[0]
    n = first.shape[0] if first.ndim else 0
    k = min(_threads, n)
    if k < 2 or first.size < MIN_SIZE or type(first) is not np.ndarray:
        return body(*arrays)
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_threads - 1, thread_name_prefix='minigen')
    cuts = [n * i // k for i in range(k + 1)]
    pieces = [[a[lo:hi] for a in arrays] for lo, hi in zip(cuts, cuts[1:])]
    futures = [_pool.submit(body, *p) for p in pieces[1:]]
    body(*pieces[0])
    for f in futures:
        f.result()  # re-raises a piece's exception here
