"""A flow model of 8-bit images: dequantize, logit, the multi-scale flow; its loss in bits
per dimension, and samples at a temperature.

Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP" (arXiv:1605.08803);
Kingma & Dhariwal 2018, "Glow" (arXiv:1807.03039). The bookkeeping, for images x = k / 255
with D = C H W dimensions:

    y = (k + u) / 256,  u ~ U[0, 1)^D               dequantization.py
    w = logit(alpha + (1 - 2 alpha) y)              logit.py, log-det L_logit(y)
    z = f(w)                                        multiscale.py, log-det L_f(w)
    log p(y) = log N(z; 0, I) + L_f(w) + L_logit(y)     change of variables (flow.py)
    bits/dim = -log p(y) / (D ln 2) + 8             the discretization term (dequantization.py)

Training minimises the batch mean of bits/dim (a fresh u every step); the held-out figure
is the same with one u per image. Sampling at temperature T (Glow sec. 5.4) draws
z ~ N(0, T^2 I) and inverts every step: T < 1 trades diversity for cleaner images.
"""
import math

import autograd
import minigen.nn as nn

from .dequantization import bits_per_dim, dequantize
from .flow import FlowSequence, standard_normal_log_prob
from .logit import LogitTransform
from .multiscale import MultiScaleFlow


class ImageFlow(nn.Module):
    """Images (N, C, H, W) with grey levels k / 255 in [0, 1]; the MultiScaleFlow
    arguments, and alpha of the logit transform."""

    def __init__(self, image_shape=(1, 28, 28), steps=4, hidden=(32, 64),
                 checkerboard_steps=2, checkerboard_hidden=16, scale='tanh', alpha=0.05,
                 split_prior=False):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.dims = math.prod(self.image_shape)
        self.flow = FlowSequence(LogitTransform(alpha), MultiScaleFlow(
            image_shape, steps, hidden, checkerboard_steps, checkerboard_hidden, scale,
            split_prior))

    def log_prob(self, y):
        """log p(y) (nats, per image) of continuous y in [0, 1]^D."""
        z, logdet = self.flow(y)
        return standard_normal_log_prob(z) + logdet

    def bits_per_dim(self, x, noise=None):
        """Bits per dimension of each image x = k / 255 (N,), through one dequantization
        (fresh uniform noise unless given)."""
        return bits_per_dim(self.log_prob(dequantize(x, noise=noise)), self.dims)

    def loss(self, x):
        """The batch's mean bits/dim: what training minimises."""
        return self.bits_per_dim(x).mean()

    def encode(self, x):
        """z of each image's bin centres, (N, D): y = (k + 1/2) / 256."""
        return self.flow(dequantize(x, noise=0.5))[0]

    def decode(self, z):
        """Images in [0, 1] from latents z (N, D)."""
        return self.flow.inverse(z).clip(0, 1)

    def sample(self, n, temperature=1.0):
        """n images from z ~ N(0, temperature^2 I)."""
        param = next(self.parameters())
        z = autograd.randn(n, self.dims, dtype=param.dtype, device=param.device)
        return self.decode(temperature * z)
