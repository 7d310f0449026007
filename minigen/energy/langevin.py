"""Langevin dynamics: samples of p(x) = exp(-E(x)) / Z from the gradient of E alone, and its
annealed version over a ladder of noise levels (NCSN).

The unadjusted Langevin algorithm (Roberts & Tweedie 1996, "Exponential convergence of
Langevin distributions and their discrete approximations"; Welling & Teh 2011, "Bayesian
learning via stochastic gradient Langevin dynamics") with step size eps:

    x_{k+1} = x_k - (eps / 2) grad_x E(x_k) + sqrt(eps) z_k,        z_k ~ N(0, I)      (1)

tends to p as eps -> 0 and k -> infinity; Z never appears. For a finite eps the chain is
biased: on E(x) = (x - mu)^2 / (2 s^2) its stationary variance is s^2 / (1 - eps / (4 s^2))
(from v = (1 - eps / (2 s^2))^2 v + eps). With a score s(x) = grad_x log p(x) = -grad_x E(x),
(1) reads x_{k+1} = x_k + (eps / 2) s(x_k) + sqrt(eps) z_k.

grad_x E is the engine's gradient with respect to the input: E is evaluated on x as a leaf
that requires grad and autograd.grad(E(x), x, grad_outputs=1) returns dE/dx without touching
any parameter's .grad. The energies of a batch are independent, so the gradient of their sum
is each sample's own gradient.

Short-run EBM training (Du & Mordatch 2019, arXiv:1903.08689; Nijkamp et al. 2019,
arXiv:1904.09770) runs (1) for a few dozen steps with the noise decoupled from the step:
x_{k+1} = x_k - (eps / 2) grad_x E(x_k) + noise_std z_k, noise_std << sqrt(eps).

Annealed Langevin dynamics (Song & Ermon 2019, "Generative Modeling by Estimating Gradients
of the Data Distribution", arXiv:1907.05600, Algorithm 1): for a geometric ladder
sigma_1 > ... > sigma_L and a score model s(x, sigma_i) of the data noised at sigma_i,

    for i = 1..L:  alpha_i = eps sigma_i^2 / sigma_L^2
                   repeat T times:  x <- x + (alpha_i / 2) s(x, sigma_i) + sqrt(alpha_i) z   (2)

and, as Jolicoeur-Martineau et al. 2020 (arXiv:2009.05475, section 4) add, one last
denoising step by Tweedie's formula, E[x | x_tilde] = x_tilde + sigma^2 grad log p_sigma(x_tilde):

    x <- x + sigma_L^2 s(x, sigma_L)                                                     (3)
"""
import numpy as np

import autograd
from autograd import enable_grad, no_grad


def energy_grad(energy, x, create_graph=False):
    """grad_x E(x) for energies E(x) of shape (B,) of a batch x (B, ...): a tensor of x's
    shape. x itself is the leaf when it requires grad (then create_graph=True keeps the
    graph, to differentiate the gradient again); otherwise a detached copy is."""
    with enable_grad():
        leaf = x if x.requires_grad else x.detach().requires_grad_()
        e = energy(leaf)
        if e.shape != (x.shape[0],):
            raise ValueError(f"energy_grad: the energy must return one value per sample, "
                             f"shape ({x.shape[0]},), got {e.shape}")
        g, = autograd.grad(e, leaf, grad_outputs=autograd.ones_like(e),
                           create_graph=create_graph)
    return g


def langevin_dynamics(energy, x, n_steps, step_size, noise_std=None, clamp=None,
                      trajectory=None):
    """n_steps of (1) from x: x - (step_size / 2) grad_x E(x) + noise_std z, with noise_std
    = sqrt(step_size) by default (the Langevin algorithm proper); `clamp` (low, high) keeps
    the chain in the data's range after every step; `trajectory`, a list, receives x before
    each step and at the end. Returns the chain's end, with no graph."""
    if n_steps < 0 or not step_size > 0:
        raise ValueError(f"langevin_dynamics: need n_steps >= 0 and step_size > 0, got "
                         f"{n_steps} and {step_size}")
    noise_std = float(np.sqrt(step_size)) if noise_std is None else noise_std
    x = x.detach()
    for _ in range(n_steps):
        if trajectory is not None:
            trajectory.append(x.numpy())
        g = energy_grad(energy, x)
        with no_grad():
            x = x - (step_size / 2) * g + noise_std * autograd.randn_like(x)  # (1)
            if clamp is not None:
                x = autograd.clip(x, *clamp)
    if trajectory is not None:
        trajectory.append(x.numpy())
    return x


def geometric_sigmas(sigma_max, sigma_min, levels):
    """The NCSN ladder sigma_1 = sigma_max > ... > sigma_L = sigma_min, a geometric sequence
    (constant ratio sigma_{i+1} / sigma_i): float64 (levels,)."""
    if not 0 < sigma_min < sigma_max or levels < 2:
        raise ValueError(f"geometric_sigmas: need 0 < sigma_min < sigma_max and levels >= 2, "
                         f"got {sigma_min}, {sigma_max}, {levels}")
    return np.geomspace(sigma_max, sigma_min, levels)


def annealed_langevin(score, x, sigmas, n_steps_each, eps, denoise=True, trajectory=None):
    """Algorithm 1 of Song & Ermon (2): `n_steps_each` steps (2) at each level i of `sigmas`
    (sigma_1 first) with alpha_i = eps sigma_i^2 / sigma_L^2, then the denoising step (3)
    when `denoise`. score(x, i) is the model at level index i, (B,) int64. `trajectory`,
    a list, receives x at the end of each level. Returns x, with no graph."""
    sigmas = np.asarray(sigmas, np.float64)
    b = x.shape[0]
    level = lambda i: autograd.tensor(np.full(b, i, np.int64), device=x.device)  # noqa: E731
    with no_grad():
        for i, sigma in enumerate(sigmas):
            alpha = float(eps * sigma ** 2 / sigmas[-1] ** 2)
            for _ in range(n_steps_each):
                x = x + (alpha / 2) * score(x, level(i)) + alpha ** 0.5 * autograd.randn_like(x)
            if trajectory is not None:
                trajectory.append(x.numpy())
        if denoise:
            x = x + float(sigmas[-1] ** 2) * score(x, level(len(sigmas) - 1))  # (3)
    return x
