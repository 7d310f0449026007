"""Samplers: from noise x_T ~ N(0, I) back to data with a trained network.

Every sampler asks the network, at each visited t, for its prediction, turns it into
(x0_hat, eps_hat) with `split_prediction`, optionally clips x0_hat to the data range
[-1, 1] (and re-derives eps_hat = (x_t - sqrt(alpha_bar_t) x0_hat) / sqrt(1 - alpha_bar_t)
from the clipped value), then takes one step:

DDPM ancestral sampling, Algorithm 2 of Ho, Jain & Abbeel 2020 (arXiv:2006.11239), draws
x_{t-1} from the posterior (eqs. 6-7) at x_0 = x0_hat:

    x_{t-1} = mu_tilde_t(x_t, x0_hat) + sigma_t z,   z ~ N(0, I), no noise at the last step
    sigma_t^2 = beta_t ('fixed_large') or beta_tilde_t ('fixed_small'), section 3.2

(without clipping, mu_tilde equals Algorithm 2's mean
(x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t)).

DDIM, Song, Meng & Ermon 2020 (arXiv:2010.02502), eq. (12), visits any decreasing
subset of timesteps t > t' (t' = the next one visited; alpha_bar of the step after the
last is 1):

    x_{t'} = sqrt(alpha_bar_{t'}) x0_hat + sqrt(1 - alpha_bar_{t'} - sigma^2) eps_hat + sigma z
    sigma  = eta sqrt((1 - alpha_bar_{t'}) / (1 - alpha_bar_t))
                 * sqrt(1 - alpha_bar_t / alpha_bar_{t'})                                 (16)

eta = 0 is deterministic; eta = 1 over all T steps is DDPM with sigma^2 = beta_tilde_t.

Classifier-free guidance wraps the network and is sampled like it (guidance.py).

All sampling runs under `no_grad` with the network in eval mode, and checks that the
network was trained with this schedule and objective (`diffusion_config`).
"""
import contextlib

import autograd

from .process import split_prediction, _check_objective


def check_model(model, schedule, objective, op):
    """A network trained with another schedule or objective gives noise, not samples:
    refuse it (the stamp is written by `diffusion_loss`)."""
    _check_objective(objective, op)
    trained = getattr(model, 'diffusion_config', None)
    wanted = {**schedule.config, 'objective': objective}
    if trained is not None and trained != wanted:
        raise ValueError(f"{op}: the model was trained with {trained} but is being sampled "
                         f"with {wanted}; sample with the training schedule and objective")


@contextlib.contextmanager
def _sampling(model):
    """no_grad and eval mode (dropout off) for the duration, then the model's mode back."""
    was_training = getattr(model, 'training', False)
    if was_training:
        model.train(False)
    try:
        with autograd.no_grad():
            yield
    finally:
        if was_training:
            model.train(True)


def _x0_eps(schedule, model, x_t, t, objective, clip_x0, cond):
    """(x0_hat, eps_hat) at timestep t (an int) for the whole batch."""
    t_batch = autograd.full((x_t.shape[0],), t, dtype=autograd.int64, device=x_t.device)
    prediction = model(x_t, t_batch, **cond)
    alpha_bar = float(schedule.alpha_bar[t])
    x0, eps = split_prediction(prediction, x_t, alpha_bar, objective)
    if clip_x0:
        # x0_hat in [-1, 1], eps_hat = (x_t - sqrt(alpha_bar_t) x0_hat) / sqrt(1 - alpha_bar_t)
        x0 = x0.clip(-1.0, 1.0)
        eps = (x_t - alpha_bar ** 0.5 * x0) / (1 - alpha_bar) ** 0.5
    return x0, eps


def ddpm_step(schedule, x_t, t, x0, variance='fixed_large'):
    """x_{t-1} = mu_tilde_t(x_t, x0) + sigma_t z (eq. 6-7), with no noise when t = 0."""
    if variance not in ('fixed_large', 'fixed_small'):
        raise ValueError(f"ddpm_step: variance must be 'fixed_large' (beta_t) or 'fixed_small' "
                         f"(beta_tilde_t), got {variance!r}")
    coef1, coef2 = float(schedule.posterior_mean_coef1[t]), float(schedule.posterior_mean_coef2[t])
    mean = coef1 * x0 + coef2 * x_t
    if t == 0:
        return mean
    sigma2 = schedule.beta[t] if variance == 'fixed_large' else schedule.beta_tilde[t]
    return mean + float(sigma2) ** 0.5 * autograd.randn_like(x_t)


def ddim_sigma(alpha_bar, alpha_bar_prev, eta):
    """sigma = eta sqrt((1 - alpha_bar') / (1 - alpha_bar)) sqrt(1 - alpha_bar / alpha_bar'),
    eq. (16)."""
    return eta * ((1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)) ** 0.5


def ddim_step(x0, eps, alpha_bar, alpha_bar_prev, eta=0.0):
    """x_{t'} = sqrt(alpha_bar') x0 + sqrt(1 - alpha_bar' - sigma^2) eps + sigma z, eq. (12)."""
    sigma = ddim_sigma(alpha_bar, alpha_bar_prev, eta)
    x = alpha_bar_prev ** 0.5 * x0 + max(1 - alpha_bar_prev - sigma ** 2, 0.0) ** 0.5 * eps
    if sigma > 0:
        x = x + sigma * autograd.randn_like(x0)
    return x


def _record(trajectory, record_every, i, n, t, x_t, x0):
    if trajectory is not None and (i % record_every == 0 or i == n - 1):
        trajectory.append((t, x_t.numpy(), x0.numpy()))


def ddpm_sample(model, schedule, x_T, objective='eps', variance='fixed_large', clip_x0=True,
                trajectory=None, record_every=1, **cond):
    """Algorithm 2: T ancestral steps from the noise x_T (B, C, H, W); returns x_0.

    trajectory: a list to which (t, x_t, x0_hat) NumPy arrays are appended every
    `record_every` steps (and at the last), for the noise-to-image GIF.
    """
    check_model(model, schedule, objective, 'ddpm_sample')
    x = x_T
    with _sampling(model):
        for i, t in enumerate(range(schedule.T - 1, -1, -1)):
            x0, _ = _x0_eps(schedule, model, x, t, objective, clip_x0, cond)
            _record(trajectory, record_every, i, schedule.T, t, x, x0)
            x = ddpm_step(schedule, x, t, x0, variance)
    return x


def ddim_sample(model, schedule, x_T, steps=50, eta=0.0, objective='eps', clip_x0=True,
                trajectory=None, record_every=1, **cond):
    """DDIM over the timesteps schedule.ddim_timesteps(steps) from the noise x_T; returns x_0.
    trajectory and record_every as for `ddpm_sample`."""
    check_model(model, schedule, objective, 'ddim_sample')
    if not 0 <= eta <= 1:
        raise ValueError(f"ddim_sample: eta must be in [0, 1] (0 deterministic, 1 DDPM-like), "
                         f"got {eta}")
    timesteps = schedule.ddim_timesteps(steps)
    x = x_T
    with _sampling(model):
        for i, t in enumerate(timesteps):
            x0, eps = _x0_eps(schedule, model, x, t, objective, clip_x0, cond)
            _record(trajectory, record_every, i, steps, t, x, x0)
            alpha_bar_prev = float(schedule.alpha_bar[timesteps[i + 1]]) if i + 1 < steps else 1.0
            x = ddim_step(x0, eps, float(schedule.alpha_bar[t]), alpha_bar_prev, eta)
    return x
