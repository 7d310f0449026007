"""The array backend: one code path for NumPy (CPU) and CuPy (CUDA GPU).

Every op receives raw arrays and asks `array_module(x)` which library they
belong to, so the same line `xp.exp(x)` runs on either device (the pattern of
DeZero's `cuda.get_array_module` and Chainer's `backend`). This file also owns
the default dtype (float32), the default device (``cpu``, or ``cuda`` when the
environment variable ``MINIGEN_DEVICE=cuda`` is set) and one seeded random
generator per device.
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


# One generator per device, reseeded together by `manual_seed`.
_rngs = {}


def manual_seed(seed):
    """Seed the random generators of every device, like torch.manual_seed."""
    _rngs['cpu'] = np.random.default_rng(seed)
    if gpu_available():
        _rngs['cuda'] = cp.random.default_rng(seed)  # noqa: F821 (cp exists here)


def rng(device):
    device = check_device(device)
    if device not in _rngs:
        seed = np.random.SeedSequence().entropy
        _rngs[device] = (cp.random.default_rng(seed) if device == 'cuda'
                         else np.random.default_rng(seed))
    return _rngs[device]


def get_rng_state():
    """The generators' states, for checkpoints: {'cpu': NumPy's state (a JSON-able dict)} and,
    once the GPU's generator exists, 'cuda': its cuRAND per-thread states as bytes (CuPy
    keeps them in a device array, `bit_generator._state`, and offers no public getter)."""
    state = {'cpu': rng('cpu').bit_generator.state}
    if 'cuda' in _rngs:
        state['cuda'] = cp.asnumpy(_rngs['cuda'].bit_generator._state)  # noqa: F821
    return state


def set_rng_state(state):
    """Restore what `get_rng_state` returned (or, from older checkpoints, the CPU state
    alone), so that a resumed run draws the same numbers as an uninterrupted one."""
    if 'bit_generator' in state:  # the format before the GPU's state was saved
        state = {'cpu': state}
    if 'cuda' in state:
        target = rng('cuda').bit_generator._state
        if target.shape != state['cuda'].shape:
            raise ValueError(f"backend.set_rng_state: the saved CUDA generator state has "
                             f"{state['cuda'].size} bytes, this GPU's {target.size} (its size "
                             f"follows the number of multiprocessors): it cannot be restored here")
        target[...] = cp.asarray(state['cuda'])  # noqa: F821
    rng('cpu').bit_generator.state = state['cpu']
