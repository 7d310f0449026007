"""The array backend: one code path for NumPy (CPU) and CuPy (CUDA GPU).

Every op receives raw arrays and asks `array_module(x)` which library they
belong to, so the same line `xp.exp(x)` runs on either device (the pattern of
DeZero's `cuda.get_array_module` and Chainer's `backend`). This file also owns
the default dtype (float32) and the default device (``cpu``, or ``cuda`` when the
environment variable ``MINIGEN_DEVICE=cuda`` is set). The seeded random generators,
one per device, are in random.py.
"""
import os

import numpy as np

try:  # CuPy is optional: minigen runs on NumPy alone.
    import cupy as cp
except Exception:  # ImportError, or a CuPy that cannot find its CUDA libraries
    cp = None


CUPY_HINT = ("install CuPy for your CUDA version (e.g. `pip install cupy-cuda12x`, "
             "see requirements-gpu.txt) on a machine with an NVIDIA GPU")

DEVICES = ('cpu', 'cuda')
_default_device = os.environ.get('MINIGEN_DEVICE', 'cpu')
default_dtype = np.float32


_gpu_count = None  # asked of the CUDA runtime once


def gpu_available():
    """True when CuPy imports and sees at least one CUDA device."""
    global _gpu_count
    if cp is None:
        return False
    if _gpu_count is None:
        try:
            _gpu_count = cp.cuda.runtime.getDeviceCount()
        except Exception:  # no driver, or no device
            _gpu_count = 0
    return _gpu_count > 0


def check_device(device):
    """Return the canonical device name, or raise a readable error."""
    device = str(device)
    if device.startswith('cuda'):  # accept 'cuda' and 'cuda:0'
        device = 'cuda'
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}: use 'cpu' or 'cuda'")
    if device == 'cuda' and not gpu_available():
        why = "CuPy is not installed" if cp is None else "CuPy finds no CUDA GPU"
        raise RuntimeError(f"device 'cuda' requested but {why}: {CUPY_HINT}")
    return device


def set_default_device(device):
    """Where new tensors live when no device is given ('cpu' or 'cuda')."""
    global _default_device
    _default_device = check_device(device)


def get_default_device():
    return _default_device


def array_module(x):
    """numpy or cupy, whichever owns array `x`."""
    if cp is not None and isinstance(x, cp.ndarray):
        return cp
    return np


def device_of(x):
    return 'cuda' if array_module(x) is not np else 'cpu'


def xp_for(device):
    return cp if check_device(device) == 'cuda' else np


def to_device(x, device):
    """Copy array `x` to `device` (a no-op when it is already there)."""
    device = check_device(device)
    if device_of(x) == device:
        return x
    return cp.asarray(x) if device == 'cuda' else cp.asnumpy(x)


def to_numpy(x):
    return x if array_module(x) is np else cp.asnumpy(x)


# The seeded generators are in random.py; minigen and the demos reach them as backend.rng, ...
from .random import rng, manual_seed, get_rng_state, set_rng_state  # noqa: E402, F401
