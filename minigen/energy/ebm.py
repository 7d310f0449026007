"""An energy-based model trained by contrastive divergence, with short-run Langevin chains
restarted from a replay buffer.

Du & Mordatch 2019, "Implicit Generation and Generalization in Energy-Based Models"
(arXiv:1903.08689). A network E_theta(x) defines p_theta(x) = exp(-E_theta(x)) / Z(theta);
the gradient of the negative log-likelihood needs samples of the model itself,

    grad_theta -log p_theta(x+) = grad_theta E_theta(x+) - E_{x- ~ p_theta}[grad_theta E_theta(x-)],

so each step draws negatives x- by K steps of Langevin dynamics (langevin.py) on E_theta,
treats them as constants (no gradient through the chain), and descends

    L = E_theta(x+) - E_theta(x-) + alpha (E_theta(x+)^2 + E_theta(x-)^2)      (section 3.3)

the first two terms pulling the energy of data down and of the model's samples up, the last
keeping both near 0 (without it the energies drift apart and the gradients blow up).

K steps from noise cannot mix; the replay buffer makes the chains persistent across training
steps (persistent contrastive divergence, Tieleman 2008): each chain starts from a past
chain's end point with probability 95%, from uniform noise with probability 5% (section 3.1),
and every chain's end point is written back, overwriting the oldest.
"""
import numpy as np

import autograd
from autograd import backend

from .langevin import langevin_dynamics


class ReplayBuffer:
    """The end points of past Langevin chains, `capacity` of them of shape `shape`, oldest
    overwritten first. sample(n) gives n starting points: each from the buffer with
    probability 1 - fresh, from uniform noise on [low, high] with probability `fresh` (and
    always while the buffer is empty). Its RNG is the engine's (autograd.manual_seed)."""

    def __init__(self, capacity, shape, low=0.0, high=1.0, fresh=0.05, device=None):
        if capacity < 1 or not 0 <= fresh <= 1 or not low < high:
            raise ValueError(f"ReplayBuffer: need capacity >= 1, 0 <= fresh <= 1 and low < "
                             f"high, got {capacity}, {fresh}, ({low}, {high})")
        self.capacity, self.shape, self.low, self.high, self.fresh = (capacity, tuple(shape),
                                                                      low, high, fresh)
        self.device = backend.check_device(device or backend.get_default_device())
        self.storage = backend.xp_for(self.device).zeros((capacity,) + self.shape, np.float32)
        self.size, self.position = 0, 0

    def __len__(self):
        return self.size

    def noise(self, n):
        """n points uniform on [low, high]: fresh chains."""
        return self.low + (self.high - self.low) * autograd.rand(n, *self.shape,
                                                                 device=self.device)

    def sample(self, n):
        """(x, is_fresh): n starting points (n, *shape) and a boolean (n,) array marking the
        ones drawn from noise."""
        x = self.noise(n)
        if self.size == 0:
            return x, np.ones(n, bool)
        fresh = backend.to_numpy((autograd.rand(n, device=self.device) < self.fresh).data)
        index = autograd.randint(0, self.size, (n,), device=self.device).data
        keep = backend.xp_for(self.device).asarray(~fresh)
        x.data[keep] = self.storage[index[keep]]
        return x, fresh

    def push(self, x):
        """Write the chains' end points x (n, *shape) over the oldest entries."""
        x = x.data if isinstance(x, autograd.Tensor) else x
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"ReplayBuffer.push: expected samples of shape (n, {self.shape}), "
                             f"got {tuple(x.shape)}")
        x = x[-self.capacity:]
        where = (self.position + np.arange(len(x))) % self.capacity
        self.storage[where] = backend.to_device(x, self.device)
        self.position = int((self.position + len(x)) % self.capacity)
        self.size = min(self.capacity, self.size + len(x))

    def state_dict(self):
        return {'storage': self.storage[:self.size], 'size': self.size,
                'position': self.position}

    def load_state_dict(self, state):
        self.size, self.position = int(state['size']), int(state['position'])
        self.storage[:self.size] = backend.to_device(np.asarray(state['storage']), self.device)


def negative_samples(energy, buffer, n, n_steps, step_size, noise_std=None, clamp=None):
    """x-: n chains started by buffer.sample, run `n_steps` of short-run Langevin on the
    energy, and written back into the buffer. Returns x- (no graph)."""
    x, _ = buffer.sample(n)
    x = langevin_dynamics(energy, x, n_steps, step_size, noise_std, clamp)
    buffer.push(x)
    return x


def contrastive_divergence_loss(energy_pos, energy_neg, alpha):
    """E(x+) - E(x-) + alpha (E(x+)^2 + E(x-)^2), each term averaged over its batch (the
    energies (B,) of data and of the model's samples, the latter computed on x- detached)."""
    return (energy_pos.mean() - energy_neg.mean()
            + alpha * ((energy_pos ** 2).mean() + (energy_neg ** 2).mean()))
