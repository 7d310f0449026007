"""Noise schedules of a diffusion model and every quantity derived from them.

Denoising Diffusion Probabilistic Models (Ho, Jain & Abbeel 2020, arXiv:2006.11239)
destroy data x_0 in T small Gaussian steps, the forward process

    q(x_t | x_{t-1}) = N(x_t; sqrt(1 - beta_t) x_{t-1}, beta_t I),    t = 1..T        (2)

whose variances beta_1 < ... < beta_T are the *schedule*. With
alpha_t = 1 - beta_t and alpha_bar_t = prod_{s<=t} alpha_s the chain has closed forms

    q(x_t | x_0) = N(x_t; sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)                 (4)
    q(x_{t-1} | x_t, x_0) = N(x_{t-1}; mu_tilde_t(x_t, x_0), beta_tilde_t I)          (6)
    mu_tilde_t = [beta_t sqrt(alpha_bar_{t-1}) / (1 - alpha_bar_t)] x_0
               + [(1 - alpha_bar_{t-1}) sqrt(alpha_t) / (1 - alpha_bar_t)] x_t          (7)
    beta_tilde_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)                    (7)

(equation numbers of Ho et al.), and the signal-to-noise ratio of x_t is
SNR(t) = alpha_bar_t / (1 - alpha_bar_t) (Kingma et al. 2021, arXiv:2107.00630).

Two schedules:
  linear  beta_t = linspace(1e-4, 0.02, T) (Ho et al., section 4), both ends scaled by
          1000 / T so that a shorter chain destroys the data as fully;
  cosine  alpha_bar(t) = f(t) / f(0),  f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2), s = 0.008,
          beta_t = min(1 - alpha_bar(t) / alpha_bar(t - 1), 0.999)
          (Nichol & Dhariwal 2021, arXiv:2102.09672, eq. 17).

Code indexes timesteps from 0: array entry t holds the paper's step t + 1, so the
model sees t in {0, ..., T-1} and alpha_bar_prev[0] = 1 (alpha_bar_0 of an empty product).
Everything is computed once in float64 and cast to the data's dtype only when used.
"""
import math

import numpy as np

from autograd import as_tensor, backend
from autograd.tensor import Tensor


class NoiseSchedule:
    """beta_t for t = 0..T-1 and every derived quantity, in float64 NumPy arrays.

    `config` is the schedule's identity (e.g. {'kind': 'linear', 'T': 1000}); the
    training loss stamps it on the model and the samplers refuse a different one.
    """

    def __init__(self, beta, config):
        beta = np.asarray(beta, dtype=np.float64)
        if beta.ndim != 1 or beta.size == 0 or not ((beta > 0) & (beta < 1)).all():
            values = f"[{beta.min()}, {beta.max()}]" if beta.size else "none"
            raise ValueError(f"NoiseSchedule: beta must be a non-empty 1-D array in (0, 1), "
                             f"got shape {beta.shape} with values in {values}")
        self.config = dict(config)
        self.T = beta.size
        self.beta = beta
        # alpha_t = 1 - beta_t,  alpha_bar_t = prod_{s <= t} alpha_s
        self.alpha = 1 - beta
        self.alpha_bar = np.cumprod(self.alpha)
        self.alpha_bar_prev = np.append(1.0, self.alpha_bar[:-1])
        # the two coefficients of q(x_t | x_0), eq. (4)
        self.sqrt_alpha_bar = np.sqrt(self.alpha_bar)
        self.sqrt_one_minus_alpha_bar = np.sqrt(1 - self.alpha_bar)
        # beta_tilde_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t), eq. (7)
        self.beta_tilde = beta * (1 - self.alpha_bar_prev) / (1 - self.alpha_bar)
        # mu_tilde_t = coef1 x_0 + coef2 x_t, eq. (7)
        one_minus = 1 - self.alpha_bar
        self.posterior_mean_coef1 = beta * np.sqrt(self.alpha_bar_prev) / one_minus
        self.posterior_mean_coef2 = (1 - self.alpha_bar_prev) * np.sqrt(self.alpha) / one_minus
        # SNR(t) = alpha_bar_t / (1 - alpha_bar_t)
        self.snr = self.alpha_bar / (1 - self.alpha_bar)
        self._on_device = {}  # (name, device, dtype) -> array, filled by `at`

    def __repr__(self):
        return f"NoiseSchedule({self.config})"

    def check_timesteps(self, t, op):
        """Raise a readable error unless t is an integer Tensor with values in [0, T)."""
        if not isinstance(t, Tensor) or t.dtype.kind not in 'iu':
            raise TypeError(f"{op}: timesteps t must be an integer Tensor, got "
                            f"{getattr(t, 'dtype', type(t).__name__)}")
        low, high = (int(t.data.min()), int(t.data.max())) if t.size else (0, 0)
        if low < 0 or high >= self.T:
            raise ValueError(f"{op}: timesteps must lie in [0, {self.T}) for this schedule "
                             f"{self.config}, got values in [{low}, {high}]")

    def at(self, name, t, like):
        """Quantity `name` (e.g. 'sqrt_alpha_bar') at timesteps t of shape (B,), as a
        constant Tensor of shape (B, 1, ..., 1) that broadcasts against `like` (B, ...),
        in like's dtype and on its device."""
        self.check_timesteps(t, f"NoiseSchedule.at('{name}')")
        if t.ndim != 1 or t.shape[0] != like.shape[0]:
            raise ValueError(f"NoiseSchedule.at('{name}'): t must have shape ({like.shape[0]},) "
                             f"(one timestep per example of x {like.shape}), got {t.shape}")
        key = (name, like.device, like.dtype)
        if key not in self._on_device:
            xp = backend.xp_for(like.device)
            self._on_device[key] = xp.asarray(getattr(self, name).astype(like.dtype))
        values = self._on_device[key][t.data]
        return as_tensor(values.reshape((-1,) + (1,) * (like.ndim - 1)))

    def sample_timesteps(self, n, device=None):
        """t ~ Uniform{0, ..., T-1}, one per example (Algorithm 1, line 3)."""
        from autograd import randint
        return randint(0, self.T, (n,), device=device)

    def ddim_timesteps(self, steps):
        """The `steps` timesteps round(linspace(T-1, 0, steps)) a DDIM sampler visits,
        highest first (all T when steps == T)."""
        if not 1 <= steps <= self.T:
            raise ValueError(f"ddim_timesteps: steps must be in [1, {self.T}] for a schedule "
                             f"of T={self.T}, got {steps}")
        return [int(t) for t in np.round(np.linspace(self.T - 1, 0, steps))]


def linear_schedule(T=1000):
    """beta_t = linspace(1e-4, 0.02, T) * 1000 / T (Ho et al. 2020, section 4)."""
    if T <= 20:
        raise ValueError(f"linear_schedule: T must exceed 20 (beta_T = 0.02 * 1000 / T must stay "
                         f"below 1), got {T}")
    scale = 1000 / T
    return NoiseSchedule(np.linspace(scale * 1e-4, scale * 0.02, T), {'kind': 'linear', 'T': T})


def cosine_schedule(T=1000):
    """beta_t = min(1 - alpha_bar(t+1) / alpha_bar(t), 0.999) with
    alpha_bar(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2), s = 0.008
    (Nichol & Dhariwal 2021, eq. 17)."""
    if T < 1:
        raise ValueError(f"cosine_schedule: T must be positive, got {T}")
    s = 0.008
    f = np.cos((np.arange(T + 1, dtype=np.float64) / T + s) / (1 + s) * math.pi / 2) ** 2
    return NoiseSchedule(np.minimum(1 - f[1:] / f[:-1], 0.999), {'kind': 'cosine', 'T': T})


def schedule_from_config(config):
    """Rebuild a schedule from its `config` (as stored with a checkpoint)."""
    makers = {'linear': linear_schedule, 'cosine': cosine_schedule}
    if config.get('kind') not in makers:
        raise ValueError(f"schedule_from_config: unknown schedule {config}; known kinds "
                         f"{sorted(makers)}")
    return makers[config['kind']](config['T'])
