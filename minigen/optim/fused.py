"""Fused CUDA kernels for the optimizers' updates: a GPU fast path, nothing more.

Read adam.py's `adam_step` and ema.py's `EMA.update` first: they are the updates. Written
as array operations, Adam's is 13 kernel launches per parameter, and for a small UNet's
~170 parameters those launches, not the arithmetic, were a quarter of a training step;
the EMA's is 3. Here each update is one cupy.ElementwiseKernel (CuPy's user-defined
elementwise kernels: the body runs once per element, T the arrays' dtype) doing the same
arithmetic in the same order.

`adam(...)` and `ema(...)` return True when they did the update: the arrays are CuPy
arrays of one dtype, float32 or float64. Otherwise (NumPy, another dtype, or a kernel
that failed to compile, which warns once) they return False and the caller runs its own
lines, so on a CPU those lines are all that runs. tests/nn/test_optim.py checks on a
GPU that the kernels compile and agree with the lines.
"""
import math
import warnings

import numpy

from autograd import backend


class cuda_kernel:
    """An elementwise CUDA kernel (cupy.ElementwiseKernel), compiled at its first use.

    `run(*args)` launches it and returns True when `args[0]` is a CuPy array and every CuPy
    array among `args` has one dtype, float32 or float64 (the other arguments are scalars);
    otherwise it returns False. Should the kernel ever fail to compile, it warns once and
    returns False from then on.
    """

    def __init__(self, in_params, out_params, operation, name):
        self.source, self.name, self.kernel, self.failed = \
            (in_params, out_params, operation, name), name, None, False

    def run(self, *args):
        xp = backend.array_module(args[0])  # args[0] is an array, the rest may be scalars
        if self.failed or xp is numpy:
            return False
        dtypes = {a.dtype for a in args if isinstance(a, xp.ndarray)}
        if len(dtypes) != 1 or dtypes.pop() not in (numpy.float32, numpy.float64):
            return False
        try:
            if self.kernel is None:
                import cupy
                self.kernel = cupy.ElementwiseKernel(*self.source)
            self.kernel(*args)
            return True
        except Exception as e:  # a compile error surfaces at the first call
            self.failed = True
            warnings.warn(f"optim: the fused CUDA kernel {self.name} failed ({type(e).__name__}: "
                          f"{e}); the unfused array operations run instead", RuntimeWarning)
            return False


# adam.adam_step's lines: m_t, v_t, then p <- p - lr m_hat / (sqrt(v_hat) + eps)
ADAM_KERNEL = cuda_kernel(
    'T g, float64 one_minus_beta1, float64 one_minus_beta2, float64 step_size, '
    'float64 bias2_sqrt, float64 eps', 'T p, T m, T v', """
    m = m + (T)one_minus_beta1 * (g - m);
    v = v + (T)one_minus_beta2 * (g * g - v);
    p = p - (T)step_size * m / (sqrt(v) / (T)bias2_sqrt + (T)eps);
    """, 'minigen_adam')

# EMA.update's line: s <- beta s + (1 - beta) theta
EMA_KERNEL = cuda_kernel('T theta, float64 one_minus_beta', 'T s',
                         's = s - (T)one_minus_beta * (s - theta)', 'minigen_ema')


def adam(p, g, m, v, t, lr, beta1, beta2, eps):
    """adam.adam_step(p, g, m, v, t, lr, beta1, beta2, eps) as one kernel, if it applies."""
    return ADAM_KERNEL.run(g, 1 - beta1, 1 - beta2, lr / (1 - beta1 ** t),
                           math.sqrt(1 - beta2 ** t), eps, p, m, v)


def ema(s, theta, beta):
    """s <- beta s + (1 - beta) theta, in place, as one kernel, if it applies."""
    return EMA_KERNEL.run(theta, 1 - beta, s)
