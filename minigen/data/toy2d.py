"""Toy 2-D distributions: seconds-long testbeds for diffusion, GANs and flows.

The classic set of the flow and GAN literature (FFJORD, Grathwohl et al. 2018,
arXiv:1810.01367; unrolled GANs, Metz et al. 2016, arXiv:1611.02163; VEEGAN's 5x5 grid,
Srivastava et al. 2017, arXiv:1705.07761), each scaled to roughly [-4, 4]^2:

    swissroll   t ~ U(1.5 pi, 4.5 pi),  x = t (cos t, sin t) / 3.5 + 0.25 eps
    moons       two interleaved half circles (radius 1) + 0.1 eps, then x 2
    8gaussians  N(4 (cos 2 pi k/8, sin 2 pi k/8), 0.25^2 I),   k ~ U{0..7}
    25gaussians N(2 (i, j), 0.1^2 I),   i, j ~ U{-2..2}   (count the modes a GAN covers)
    checkerboard  uniform on the black squares of a 4x4 board of side 8
    rings       four concentric circles of radii 1, 2, 3, 4 (points in proportion
                to length) + 0.08 eps

with eps ~ N(0, I). `toy2d(name, n, seed)` returns the points and an integer label
(the mixture component, moon, square or ring; for the swiss roll, which quarter of the
roll) to colour a scatter plot by: `minigen.viz.save_scatter(x, 'x.png', labels=y)`.
"""
import numpy as np

NAMES = ('swissroll', 'moons', '8gaussians', '25gaussians', 'checkerboard', 'rings')


def modes(name):
    """The component means of a Gaussian mixture ('8gaussians' or '25gaussians'), (K, 2)."""
    if name == '8gaussians':
        angle = 2 * np.pi * np.arange(8) / 8
        return (4 * np.stack([np.cos(angle), np.sin(angle)], 1)).astype(np.float32)
    if name == '25gaussians':
        i, j = np.meshgrid(np.arange(-2, 3), np.arange(-2, 3), indexing='ij')
        return (2 * np.stack([i.ravel(), j.ravel()], 1)).astype(np.float32)
    raise ValueError(f"modes: {name!r} is not a Gaussian mixture; use '8gaussians' or "
                     f"'25gaussians'")


def toy2d(name, n, seed=0):
    """n points (float32, (n, 2)) of distribution `name` and their labels (int64, (n,))."""
    if name not in NAMES:
        raise ValueError(f"toy2d: unknown distribution {name!r}; choose one of {NAMES}")
    if not (isinstance(n, (int, np.integer)) and n >= 0):
        raise ValueError(f"toy2d: n must be a non-negative int, got {n!r}")
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n, 2))
    if name == 'swissroll':
        t = rng.uniform(1.5 * np.pi, 4.5 * np.pi, n)
        x = t[:, None] * np.stack([np.cos(t), np.sin(t)], 1) / 3.5 + 0.25 * eps
        y = ((t - 1.5 * np.pi) / (0.75 * np.pi)).astype(np.int64)
    elif name == 'moons':  # upper half circle at (0, 0), lower one at (1, 0.5), centred
        y = rng.integers(2, size=n)
        t = rng.uniform(0, np.pi, n)
        upper = np.stack([np.cos(t), np.sin(t)], 1)
        lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
        x = 2 * (np.where(y[:, None] == 0, upper, lower) - [0.5, 0.25] + 0.1 * eps)
    elif name in ('8gaussians', '25gaussians'):
        centers = modes(name)
        y = rng.integers(len(centers), size=n)
        x = centers[y] + (0.25 if name == '8gaussians' else 0.1) * eps
    elif name == 'checkerboard':  # square (col, row) of side 2 is black when col + row is even
        u = rng.uniform(-4, 4, n)
        col = np.floor(u / 2)
        row = 2 * rng.integers(-1, 1, size=n) + col % 2
        x = np.stack([u, 2 * row + rng.uniform(0, 2, n)], 1)
        y = ((col + 2) * 4 + row + 2).astype(np.int64)
    else:  # rings: choose ring k with probability proportional to its circumference
        radii = np.arange(1, 5)
        y = rng.choice(4, size=n, p=radii / radii.sum())
        t = rng.uniform(0, 2 * np.pi, n)
        x = radii[y, None] * np.stack([np.cos(t), np.sin(t)], 1) + 0.08 * eps
    return x.astype(np.float32), y.astype(np.int64)
