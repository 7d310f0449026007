"""Flows on 2-D points: a stack of affine couplings that turns N(0, I) into two moons,
eight Gaussians or rings, and the two pictures that show what it learned.

Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP" (arXiv:1605.08803),
Fig. 1 (the four panels: data, latent, inference and generation); the 2-D setting of
karpathy/pytorch-normalizing-flows. With D = 2 a coupling's mask keeps one coordinate and
transforms the other:

    y_1 = x_1,    y_2 = x_2 exp(s(x_1)) + t(x_1)            (mask (1, 0); then (0, 1))

so alternating masks transform each coordinate in turn; an ActNorm before each coupling
(actnorm.py) keeps the scale of the points in check. The density is exact:

    log p(x) = log N(f(x); 0, I) + sum_k log |det df_k/dh_{k-1}|      (flow.py)

Pictures: log_density_grid evaluates log p on a grid (a heat map), and grid_lines gives
the lines of a square grid in z, which FlowSequence.inverse_trajectory carries through
f_K^{-1}, ..., f_1^{-1}: how the Gaussian's space is bent, layer by layer, into the data's.

The baseline a 2-D flow's held-out -log p is read against is the best single Gaussian,
fitted to the training points (mu, Sigma their mean and covariance):

    -log N(x; mu, Sigma) = 1/2 (x - mu)^T Sigma^{-1} (x - mu) + 1/2 log det(2 pi Sigma)
"""
import numpy as np

import autograd

from .actnorm import ActNorm
from .coupling import AffineCoupling, channel_mask
from .flow import FlowSequence, log_likelihood
from .nets import MLP


def flow_2d(layers=8, hidden=64, scale='tanh'):
    """`layers` of ActNorm + affine coupling on (N, 2), masks alternating, each coupling's
    s and t an MLP with two hidden layers of `hidden` units."""
    return FlowSequence(*[layer for k in range(layers) for layer in (
        ActNorm(2), AffineCoupling(2, channel_mask(2, k % 2, spatial=False), MLP(2, hidden),
                                   scale))])


def grid_points(lim, n):
    """The centres of an n x n grid over [-lim, lim]^2, (n * n, 2), row by row from the top
    (y = +lim) and left to right: reshaped to (n, n) they read as an image."""
    u = np.linspace(-lim, lim, n)
    xx, yy = np.meshgrid(u, u[::-1])
    return np.stack([xx.ravel(), yy.ravel()], 1)


def log_density_grid(flow, lim=4.5, n=100):
    """log p(x) on an n x n grid over [-lim, lim]^2, (n, n), row 0 at the top."""
    param = next(flow.parameters())
    with autograd.no_grad():
        x = autograd.tensor(grid_points(lim, n), dtype=param.dtype, device=param.device)
        return log_likelihood(flow, x).numpy().reshape(n, n)


def grid_lines(lim=3.0, lines=13, points=100):
    """A square grid's lines in the latent space, (2 * lines, points, 2): first the
    horizontal lines (y fixed), then the vertical ones."""
    ticks, along = np.linspace(-lim, lim, lines), np.linspace(-lim, lim, points)
    horizontal = np.stack([np.broadcast_to(along, (lines, points)),
                           np.broadcast_to(ticks[:, None], (lines, points))], -1)
    return np.concatenate([horizontal, horizontal[..., ::-1]])


def layer_by_layer(flow, curves):
    """Curves (L, P, 2) in z carried through each inverse layer: a list of (L, P, 2), the
    first in z, the last in data space (one entry per layer in between)."""
    param = next(flow.parameters())
    shape = curves.shape
    with autograd.no_grad():
        z = autograd.tensor(curves.reshape(-1, 2), dtype=param.dtype, device=param.device)
        return [h.numpy().reshape(shape) for h in flow.inverse_trajectory(z)]


def gaussian_nll(train, held):
    """-log N(held; mu, Sigma) in nats per point, averaged, of the Gaussian fitted to the
    points `train` (N, D): the baseline of a flow's held-out negative log-likelihood."""
    mu, cov = train.mean(0), np.cov(train.T)
    d = held - mu
    maha = np.einsum('ni,ij,nj->n', d, np.linalg.inv(cov), d)
    return float(np.mean(0.5 * maha + 0.5 * np.linalg.slogdet(2 * np.pi * cov)[1]))
