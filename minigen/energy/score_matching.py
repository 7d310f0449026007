"""Denoising score matching: a network learns the score grad_x log p of the data noised at
several levels, by learning to point from a noised sample back to its clean one.

Vincent 2011, "A Connection Between Score Matching and Denoising Autoencoders" (Neural
Computation 23(7)); weighted over noise levels as in NCSN, Song & Ermon 2019, "Generative
Modeling by Estimating Gradients of the Data Distribution" (arXiv:1907.05600), eqs. (5)-(6).
Noise a sample with q_sigma(x_tilde | x) = N(x_tilde; x, sigma^2 I), whose score is

    grad_{x_tilde} log q_sigma(x_tilde | x) = -(x_tilde - x) / sigma^2 = -z / sigma,
    with x_tilde = x + sigma z.

Regressing s_theta(x_tilde, sigma) on it,

    l(theta; sigma) = 1/2 E || s_theta(x_tilde, sigma) + (x_tilde - x) / sigma^2 ||^2         (5)

has the same minimiser as regressing on the unknown score of the noised data,
s*(x_tilde, sigma) = grad log q_sigma(x_tilde), q_sigma(x_tilde) = int q_sigma(x_tilde | x) p(x) dx
(Vincent: the two objectives differ by a constant in theta). Over the ladder sigma_1..sigma_L,

    L(theta) = 1/L sum_i lambda(sigma_i) l(theta; sigma_i),    lambda(sigma) = sigma^2,       (6)

the weight making every level's term of the same size (||sigma s*|| ~ 1): sigma^2 l equals
1/2 E || sigma s_theta(x_tilde, sigma) + z ||^2, the regression of a network on the noise.

That is DDPM's loss. Ho et al. 2020 (arXiv:2006.11239) noise x_0 by x_t = sqrt(alpha_bar)
x_0 + sqrt(1 - alpha_bar) eps, so grad log q(x_t | x_0) = -eps / sqrt(1 - alpha_bar), and the
minimiser of E || eps_theta(x_t) - eps ||^2, eps*(x_t) = E[eps | x_t], is the score of q_t
scaled by -sqrt(1 - alpha_bar):

    s(x_t) = grad log q_t(x_t) = -eps_theta(x_t) / sqrt(1 - alpha_bar),
    eps_theta(x_t) = -sqrt(1 - alpha_bar) s(x_t).                                          (7)
"""
import numpy as np

import autograd


def _per_sample(values, x):
    """(B,) values shaped (B, 1, ..., 1) to broadcast against x."""
    return values.reshape((x.shape[0],) + (1,) * (x.ndim - 1))


def dsm_loss(score, x, sigmas, levels=None, reduction='mean'):
    """(6): for each sample a level i (uniform over len(sigmas) unless `levels` (B,) int64
    is given), x_tilde = x + sigma_i z, and 1/2 sigma_i^2 sum_dims (s(x_tilde, i) +
    (x_tilde - x) / sigma_i^2)^2. score(x, i) takes the level index i; `reduction` 'mean'
    (over the batch) or 'none' ((B,))."""
    if reduction not in ('mean', 'none'):
        raise ValueError(f"dsm_loss: reduction must be 'mean' or 'none', got {reduction!r}")
    sigmas = np.asarray(sigmas, np.float64)
    if levels is None:
        levels = autograd.randint(0, len(sigmas), (x.shape[0],), device=x.device)
    elif levels.shape != (x.shape[0],) or levels.dtype.kind not in 'iu':
        raise ValueError(f"dsm_loss: levels must be {x.shape[0]} integer level indices, got "
                         f"{levels.dtype} of shape {levels.shape}")
    sigma = _per_sample(autograd.tensor(sigmas[autograd.backend.to_numpy(levels.data)],
                                        dtype=x.dtype, device=x.device), x)
    z = autograd.randn_like(x)
    x_tilde = x + sigma * z
    target = -z / sigma  # -(x_tilde - x) / sigma^2, the score of q_sigma(x_tilde | x)
    residual = score(x_tilde, levels) - target
    per_sample = 0.5 * (sigma ** 2 * residual ** 2).reshape(x.shape[0], -1).sum(axis=1)  # (6)
    return per_sample.mean() if reduction == 'mean' else per_sample


def score_from_eps(eps, alpha_bar):
    """(7): the score of q_t that a DDPM's noise prediction eps_theta(x_t) stands for,
    -eps / sqrt(1 - alpha_bar)."""
    return -eps / float(np.sqrt(1 - alpha_bar))


def eps_from_score(score, alpha_bar):
    """(7) the other way: the noise prediction of a score, -sqrt(1 - alpha_bar) s."""
    return -float(np.sqrt(1 - alpha_bar)) * score
