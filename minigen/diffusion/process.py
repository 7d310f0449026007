"""The diffusion process: noising data, what the network predicts, and the training loss.

Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models" (arXiv:2006.11239).
Sampling x_t from x_0 in one step, eq. (4), with eps ~ N(0, I):

    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps                            (4)

A network f_theta(x_t, t) is trained on one of three equivalent targets (all linear in
x_0 and eps given x_t, so any one gives the others):

    eps   the noise (Ho et al.):      x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
    x0    the clean data:             eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t)
    v     v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0
          (Salimans & Ho 2022, arXiv:2202.00512):
                                      x_0 = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v
                                      eps = sqrt(alpha_bar_t) v + sqrt(1 - alpha_bar_t) x_t

Algorithm 1 (training): x_0 ~ data, t ~ Uniform{0..T-1}, eps ~ N(0, I), and a gradient
step on the simple loss (eq. 14, for the eps target)

    L_simple = E || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) ||^2

Min-SNR-gamma weighting (Hang et al. 2023, arXiv:2303.09556) scales example i's loss by
w_t = min(SNR(t), gamma) / SNR(t) for eps, min(SNR(t), gamma) for x0 and
min(SNR(t), gamma) / (SNR(t) + 1) for v (the same weight on the x_0 error in each case).

Training for classifier-free guidance (dropping the condition) is in guidance.py.
"""
import numpy as np

import autograd
from autograd.tensor import Tensor

OBJECTIVES = ('eps', 'x0', 'v')


def _check_objective(objective, op):
    if objective not in OBJECTIVES:
        raise ValueError(f"{op}: objective must be one of {OBJECTIVES}, got {objective!r}")


def q_sample(schedule, x0, t, eps):
    """x_t ~ q(x_t | x_0), eq. (4): sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps."""
    if eps.shape != x0.shape:
        raise ValueError(f"q_sample: eps {eps.shape} must have the shape of x0 {x0.shape}")
    return (schedule.at('sqrt_alpha_bar', t, x0) * x0
            + schedule.at('sqrt_one_minus_alpha_bar', t, x0) * eps)


def q_posterior(schedule, x0, x_t, t):
    """Mean and variance of q(x_{t-1} | x_t, x_0), eqs. (6)-(7):
    mu_tilde = coef1 x_0 + coef2 x_t, variance beta_tilde_t (shaped (B, 1, ..., 1))."""
    mean = (schedule.at('posterior_mean_coef1', t, x_t) * x0
            + schedule.at('posterior_mean_coef2', t, x_t) * x_t)
    return mean, schedule.at('beta_tilde', t, x_t)


def training_target(schedule, x0, t, eps, objective='eps'):
    """What the network learns to output: eps, x0, or
    v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0."""
    _check_objective(objective, 'training_target')
    if objective == 'eps':
        return eps
    if objective == 'x0':
        return x0
    return (schedule.at('sqrt_alpha_bar', t, x0) * eps
            - schedule.at('sqrt_one_minus_alpha_bar', t, x0) * x0)


def split_prediction(prediction, x_t, alpha_bar, objective='eps'):
    """(x0_hat, eps_hat) from the network's output, by the formulas in the module docstring.
    alpha_bar: a number, or a Tensor broadcasting against x_t."""
    _check_objective(objective, 'split_prediction')
    a, b = alpha_bar ** 0.5, (1 - alpha_bar) ** 0.5
    if objective == 'eps':
        # x_0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar)
        return (x_t - b * prediction) / a, prediction
    if objective == 'x0':
        # eps = (x_t - sqrt(alpha_bar) x_0) / sqrt(1 - alpha_bar)
        return prediction, (x_t - a * prediction) / b
    # x_0 = sqrt(alpha_bar) x_t - sqrt(1 - alpha_bar) v
    # eps = sqrt(alpha_bar) v + sqrt(1 - alpha_bar) x_t
    return a * x_t - b * prediction, a * prediction + b * x_t


def predict_x0(schedule, x_t, t, prediction, objective='eps'):
    """x0_hat from the network's output at timesteps t (B,): the preview of the image."""
    return split_prediction(prediction, x_t, schedule.at('alpha_bar', t, x_t), objective)[0]


def stamp_model(model, schedule, objective):
    """Record on `model` the schedule and objective it is trained with (`diffusion_config`);
    a different one later is an error, so samplers can trust the stamp."""
    config = {**schedule.config, 'objective': objective}
    current = getattr(model, 'diffusion_config', None)
    if current is not None and current != config:
        raise ValueError(f"diffusion_loss: the model was trained with {current} but this loss "
                         f"uses {config}; set model.diffusion_config = None to retrain it "
                         f"on purpose")
    model.diffusion_config = config


def diffusion_loss(model, schedule, x0, t=None, eps=None, objective='eps', min_snr_gamma=None,
                   reduction='mean', **cond):
    """Algorithm 1: the mean squared error between the network output and its target.

    model(x_t, t, **cond) -> prediction of x0's shape. t (B,) and eps default to fresh
    draws. objective: 'eps' (default), 'x0' or 'v', the target the model predicts.
    min_snr_gamma: None (default) for the unweighted simple loss, or a gamma > 0 (5 in
    Hang et al. 2023) to weight example i by w_t = min(SNR(t), gamma) / SNR(t) for eps,
    min(SNR(t), gamma) for x0, min(SNR(t), gamma) / (SNR(t) + 1) for v (Min-SNR-gamma).
    reduction 'mean' gives a scalar; 'none' gives one (weighted) loss per example (B,),
    for `TimestepLoss`.
    """
    _check_objective(objective, 'diffusion_loss')
    if reduction not in ('mean', 'none'):
        raise ValueError(f"diffusion_loss: reduction must be 'mean' or 'none', got {reduction!r}")
    if min_snr_gamma is not None and min_snr_gamma <= 0:
        raise ValueError(f"diffusion_loss: min_snr_gamma must be positive (5 in Hang et al.), "
                         f"got {min_snr_gamma}")
    stamp_model(model, schedule, objective)
    if t is None:
        t = schedule.sample_timesteps(x0.shape[0], device=x0.device)
    if eps is None:
        eps = autograd.randn_like(x0)
    x_t = q_sample(schedule, x0, t, eps)
    prediction = model(x_t, t, **cond)
    if prediction.shape != x0.shape:
        raise ValueError(f"diffusion_loss: the model returned {prediction.shape} for x {x0.shape}")
    # || target - f_theta(x_t, t) ||^2, averaged over each example's elements
    diff = prediction - training_target(schedule, x0, t, eps, objective)
    loss = (diff * diff).reshape(x0.shape[0], -1).mean(axis=1)
    if min_snr_gamma is not None:
        # w_t = min(SNR, gamma) / SNR (eps),  min(SNR, gamma) (x0),  min(SNR, gamma) / (SNR + 1) (v)
        snr = schedule.at('snr', t, loss)
        clipped = autograd.minimum(snr, min_snr_gamma)
        loss = loss * {'eps': clipped / snr, 'x0': clipped, 'v': clipped / (snr + 1)}[objective]
    return loss.mean() if reduction == 'mean' else loss


class TimestepLoss:
    """Running mean of per-example losses in `buckets` equal ranges of t, for the plot of
    the loss against t (the loss is largest for small t, where eps is hardest to see)."""

    def __init__(self, T, buckets=10):
        self.T, self.buckets = T, buckets
        self.total = np.zeros(buckets)
        self.count = np.zeros(buckets, dtype=np.int64)

    def update(self, losses, t):
        """losses (B,) from diffusion_loss(..., reduction='none'), t (B,) the timesteps used."""
        losses, t = np.asarray(losses.numpy(), np.float64), np.asarray(t.numpy())
        if losses.shape != t.shape:
            raise ValueError(f"TimestepLoss.update: losses {losses.shape} and t {t.shape} differ")
        bucket = np.minimum(t * self.buckets // self.T, self.buckets - 1)
        np.add.at(self.total, bucket, losses)
        np.add.at(self.count, bucket, 1)

    def result(self):
        """(bucket centres in t, mean loss per bucket; NaN where a bucket saw nothing)."""
        centres = (np.arange(self.buckets) + 0.5) * self.T / self.buckets
        with np.errstate(invalid='ignore', divide='ignore'):
            return centres, self.total / self.count
