"""Random numbers: one seeded generator per device, as in torch.random.

Every random tensor (randn, rand, randint, dropout masks, initial weights) is drawn
from `rng(device)`: NumPy's `default_rng` on the CPU, CuPy's on the GPU. `manual_seed`
reseeds the generators of every device at once, so that a run can be repeated;
`get_rng_state` and `set_rng_state` save and restore them in checkpoints, so that a
resumed run draws the same numbers as an uninterrupted one.
"""
import numpy as np

from . import backend

_rngs = {}  # device -> its generator, made on first use or by manual_seed


def manual_seed(seed):
    """Seed the random generators of every device, like torch.manual_seed."""
    _rngs['cpu'] = np.random.default_rng(seed)
    if backend.gpu_available():
        _rngs['cuda'] = backend.cp.random.default_rng(seed)


def rng(device):
    """The generator of `device`, seeded from the OS's entropy until `manual_seed`."""
    device = backend.check_device(device)
    if device not in _rngs:
        seed = np.random.SeedSequence().entropy
        _rngs[device] = (backend.cp.random.default_rng(seed) if device == 'cuda'
                         else np.random.default_rng(seed))
    return _rngs[device]


def get_rng_state():
    """The generators' states, for checkpoints: {'cpu': NumPy's state (a JSON-able dict)} and,
    once the GPU's generator exists, 'cuda': its cuRAND per-thread states as bytes (CuPy
    keeps them in a device array, `bit_generator._state`, and offers no public getter)."""
    state = {'cpu': rng('cpu').bit_generator.state}
    if 'cuda' in _rngs:
        state['cuda'] = backend.cp.asnumpy(_rngs['cuda'].bit_generator._state)
    return state


def set_rng_state(state):
    """Restore what `get_rng_state` returned (or, from older checkpoints, the CPU state
    alone), so that a resumed run draws the same numbers as an uninterrupted one."""
    if 'bit_generator' in state:  # the format before the GPU's state was saved
        state = {'cpu': state}
    if 'cuda' in state:
        target = rng('cuda').bit_generator._state
        if target.shape != state['cuda'].shape:
            raise ValueError(f"set_rng_state: the saved CUDA generator state has "
                             f"{state['cuda'].size} bytes, this GPU's {target.size} (its size "
                             f"follows the number of multiprocessors): it cannot be restored here")
        target[...] = backend.cp.asarray(state['cuda'])
    rng('cpu').bit_generator.state = state['cpu']
