"""Invertible 1x1 convolution: a learned C x C matrix W applied at every pixel, a
generalisation of the fixed channel permutations between couplings.

Kingma & Dhariwal 2018, "Glow: Generative Flow with Invertible 1x1 Convolutions"
(arXiv:1807.03039), sec. 3.2. On x (N, C, H, W),

    y[:, :, i, j] = W x[:, :, i, j],       log |det dy/dx| = H W log |det W|      (eq. 9)

since dy/dx is block-diagonal with H W copies of W. log |det W| comes from the engine's
`slogdet` (autograd/ops/linalg.py), whose gradient is W^{-T}; the inverse applies W^{-1}.
W starts as a random rotation (the Q of a QR decomposition of a Gaussian matrix), so
log |det W| = 0 at first, as in Glow. (Glow's LU-decomposed W, which makes log |det| a
sum of logs, is a speed-up for many channels; with C <= 16 here slogdet is cheap.)
"""
import numpy as np

import autograd
import minigen.nn as nn


class InvertibleConv1x1(nn.Module):
    def __init__(self, channels):
        super().__init__()
        gaussian = autograd.randn(channels, channels, dtype=autograd.float64).numpy()
        q, _ = np.linalg.qr(gaussian)
        self.weight = nn.Parameter(autograd.tensor(q.astype(np.float32)))

    @staticmethod
    def _apply(w, x):
        """w (C, C) at every pixel of x (N, C, H, W): (N, C, HW) -> w @ x."""
        n, c, h, wd = x.shape
        return (w @ x.reshape(n, c, h * wd)).reshape(n, c, h, wd)

    def forward(self, x):
        _, logabsdet = autograd.slogdet(self.weight)
        pixels = x.shape[2] * x.shape[3]
        logdet = pixels * logabsdet * autograd.ones(x.shape[0], dtype=x.dtype, device=x.device)
        return self._apply(self.weight, x), logdet

    def inverse(self, y):
        return self._apply(autograd.inv(self.weight), y)
