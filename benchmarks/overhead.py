"""op_overhead_us: the engine's own cost of one op, in microseconds.

One timed run is the forward and backward of the smallest op there is: z = x + y on two
(4, 4) float32 tensors that require grad, then z.backward(g) with a fixed (4, 4) g. The
arithmetic is a few nanoseconds; the rest is what every op pays whatever its size:
checking the inputs, making the output Tensor, recording the op in the graph, walking the
graph backward, summing the gradients into `.grad`. The median over many runs is
reported, in microseconds (the JSON value is a plain number, like the times).

PyTorch's figure for the same two lines (torch.add forward + backward on (4, 4)) is
printed by this module's __main__ when torch happens to be importable; it is never a
dependency (run it with the reference's throwaway venv):

    python -m benchmarks --only overhead
    ~/.cache/torchref/bin/python -m benchmarks.overhead --torch
"""
import sys
import time

RUNS = 2000


def _median_us(step, runs=RUNS, rounds=7):
    """Median over `rounds` of the mean time of `runs` calls, in microseconds."""
    for _ in range(min(200, runs)):
        step()
    means = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(runs):
            step()
        means.append((time.perf_counter() - t0) / runs * 1e6)
    means.sort()
    return means[len(means) // 2]


def run(device='cpu', repeat=5, runs=RUNS):
    import autograd
    x = autograd.randn(4, 4, device=device, requires_grad=True)
    y = autograd.randn(4, 4, device=device, requires_grad=True)
    g = autograd.ones(4, 4, device=device)

    def step():
        (x + y).backward(g)
        x.grad = y.grad = None

    return {'op_overhead_us': _median_us(step, runs)}


def run_torch():
    import torch  # its default threads (OMP_NUM_THREADS, else every core), as the reference
    x = torch.randn(4, 4, requires_grad=True)
    y = torch.randn(4, 4, requires_grad=True)
    g = torch.ones(4, 4)

    def step():
        (x + y).backward(g)
        x.grad = y.grad = None

    return {'op_overhead_us': _median_us(step)}


if __name__ == '__main__':
    print(run_torch() if '--torch' in sys.argv else run())
