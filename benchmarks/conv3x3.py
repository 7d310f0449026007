"""conv3x3: Conv2d(64, 64, 3, padding=1) on x (32, 64, 32, 32) float32 with requires_grad;
one timed run is forward, .sum(), backward (gradients of x, weight and bias, accumulated
into .grad across runs, as the PyTorch reference does).

Built from autograd only, with PyTorch's default initialisation of Conv2d
(uniform in +-1/sqrt(fan_in) for weight and bias) so both run on the same numbers' scale.
"""
import math

import autograd
from autograd.ops.conv import conv2d
from benchmarks import median_time


def run(device='cpu', repeat=5):
    """Median seconds of one forward + backward."""
    bound = 1 / math.sqrt(64 * 3 * 3)
    w = ((autograd.rand(64, 64, 3, 3, device=device) * 2 - 1) * bound).requires_grad_()
    b = ((autograd.rand(64, device=device) * 2 - 1) * bound).requires_grad_()
    x = autograd.randn(32, 64, 32, 32, device=device, requires_grad=True)

    def step():
        conv2d(x, w, b, padding=1).sum().backward()

    return median_time(step, device, repeat)
