"""The speed benchmarks of ../shared/BENCHMARKS.md, built with minigen/autograd only.

Each workload is a module here with `run(device, repeat) -> median seconds`; `python -m
benchmarks` runs them and prints the same JSON keys as the PyTorch reference
(../shared/bench/torch_reference.py), so the two can be divided key by key.
"""
import time

from autograd import backend

# workload module in this package -> the JSON keys it reports (more are added by later issues)
WORKLOADS = {'conv3x3': ['conv3x3'], 'attention': ['attention'],
             'unet': ['unet_step', 'ddim_sample', 'unet_params'],
             'mlp': ['mlp_step'], 'gpt': ['gpt_step', 'gpt_params'],
             'overhead': ['op_overhead_us']}


def blas_line():
    """Which BLAS NumPy's products run on, with its kernel and thread count, e.g.
    'BLAS: openblas 0.3.31 (kernel Haswell), 2 threads': figures taken on another kernel
    (OPENBLAS_CORETYPE forces an older one) are not comparable. Needs threadpoolctl (a
    development dependency); without it the line says so instead."""
    import os
    forced = [f"{k}={os.environ[k]}" for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')
              if k in os.environ]
    note = f"; set: {', '.join(forced)}" if forced else ''
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"BLAS: unknown (pip install threadpoolctl to see it){note}"
    pools = [p for p in threadpool_info() if p.get('user_api') == 'blas']
    if not pools:
        return f"BLAS: none found by threadpoolctl{note}"
    return 'BLAS: ' + '; '.join(
        f"{p.get('internal_api')} {p.get('version')} (kernel {p.get('architecture', '?')}), "
        f"{p.get('num_threads')} threads" for p in pools) + note


def synchronize(device):
    """Wait for the GPU to finish before reading the clock (a no-op on the CPU)."""
    if device == 'cuda':
        backend.cp.cuda.Device().synchronize()


def median_time(step, device, repeat, warmup=2):
    """2 untimed warm-ups, then the median wall time of `repeat` runs."""
    for _ in range(warmup):
        step()
    synchronize(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]
