"""The speed benchmarks of ../shared/BENCHMARKS.md, built with minigen/autograd only.

Each workload is a module here with `run(device, repeat) -> median seconds`; `python -m
benchmarks` runs them and prints the same JSON keys as the PyTorch reference
(../shared/bench/torch_reference.py), so the two can be divided key by key.
"""
import time

from autograd import backend

# workload name -> module in this package (more are added by later issues)
WORKLOADS = ['conv3x3', 'attention', 'unet']


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
