"""From 8-bit pixels to a density and back to bits: uniform dequantization and bits per
dimension, with the discretization term.

Theis, van den Oord & Bethge 2016 (arXiv:1511.01844) sec. 3.1; Dinh et al. 2017, RealNVP
(arXiv:1605.08803) sec. 4.1; Kingma & Dhariwal 2018, Glow (arXiv:1807.03039) sec. 5.

A flow has a density p(y) on continuous y, but an 8-bit image is discrete: k_i in
{0, ..., 255}, i.e. B = 2^8 = 256 bins per dimension. Uniform dequantization adds noise
inside each bin and rescales to [0, 1]:

    y = (k + u) / B,       u ~ U[0, 1)^D

Each k owns the cube [k / B, (k + 1) / B) of volume B^{-D}, so the discrete model
P(k) = integral of p over that cube satisfies, by Jensen's inequality,

    log P(k) >= E_u[log p(y)] - D log B.

Bits per dimension are the negative log-likelihood in base 2 divided by D:

    bits/dim = -log2 P(k) / D  <=  (-log p(y) + D log B) / (D ln 2)
             = -log p(y) / (D ln 2) + log2 B                       (+ 8 for 8-bit images)

The "+ 8" is the discretization term: without it the figure is not comparable with the
papers (and can even be negative, rosinality/glow-pytorch#4), and with 2^8 - 1 = 255 bins
instead of 256 it is off by log2(256/255) (rosinality/glow-pytorch#17). minigen's images
hold k / 255 in [0, 1] (minigen.data), so k = round(255 x).
"""
import math

import autograd

BINS = 256  # 8-bit pixels


def to_bins(x, bins=BINS):
    """The integer levels k of grey values x = k / (bins - 1) in [0, 1] (a Tensor)."""
    return (x * (bins - 1)).data.round()


def dequantize(x, bins=BINS, noise=None):
    """y = (k + u) / bins with u ~ U[0, 1) (or the given `noise`; 0.5 gives each bin's
    centre), from x = k / (bins - 1) in [0, 1]."""
    k = autograd.tensor(to_bins(x, bins), dtype=x.dtype, device=x.device)
    if noise is None:
        noise = autograd.rand(*x.shape, dtype=x.dtype, device=x.device)
    return (k + noise) / bins


def bits_per_dim(log_py, dims, bins=BINS):
    """-log p(y) / (D ln 2) + log2(bins): the bits per dimension bound of the discrete
    images from the log-density log_py (nats, per image) of their dequantized y in [0, 1]^D."""
    return -log_py / (dims * math.log(2)) + math.log2(bins)
