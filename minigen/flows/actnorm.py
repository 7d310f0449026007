"""Activation normalization (actnorm): a per-channel scale and shift, initialised from the
first batch so that each channel starts with zero mean and unit variance.

Kingma & Dhariwal 2018, "Glow: Generative Flow with Invertible 1x1 Convolutions"
(arXiv:1807.03039), sec. 3.1 and Table 1. On x (N, C, H, W), per channel c,

    y = x * exp(log_s_c) + b_c,     log |det dy/dx| = H W sum_c log_s_c
    x = (y - b_c) * exp(-log_s_c)

(the scale kept as its log, so it stays positive and the log-det is linear in it).
Data-dependent initialisation: on the first forward pass in training mode,

    log_s_c = -log(std_c + eps),   b_c = -mean_c exp(log_s_c)

over the batch and the pixels, after which these are ordinary parameters. Unlike batch
norm the statistics are not recomputed, so a trained actnorm is an affine map of x alone,
and `initialized` (a buffer, saved in checkpoints) says the first batch has been seen.
On vectors (N, C) the same holds with H W = 1.
"""
import autograd
import minigen.nn as nn


class ActNorm(nn.Module):
    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.log_scale = nn.Parameter(autograd.zeros(channels))
        self.bias = nn.Parameter(autograd.zeros(channels))
        self.register_buffer('initialized', autograd.zeros(()))

    def _view(self, p, x):
        """A per-channel vector shaped to broadcast over (N, C, ...)."""
        return p.reshape((1, -1) + (1,) * (x.ndim - 2))

    def _initialize(self, x):
        """log_s = -log(std + eps), b = -mean exp(log_s), per channel, from this batch."""
        with autograd.no_grad():
            axes = (0,) + tuple(range(2, x.ndim))
            mean = x.mean(axis=axes)
            std = ((x - self._view(mean, x)) ** 2).mean(axis=axes).sqrt()
            log_scale = -(std + self.eps).log()
            self.log_scale.data[...] = log_scale.data
            self.bias.data[...] = (-mean * log_scale.exp()).data
            self.initialized.data[...] = 1

    def forward(self, x):
        if self.training and not self.initialized.item():
            self._initialize(x)
        y = x * self._view(self.log_scale.exp(), x) + self._view(self.bias, x)
        pixels = x[0, 0].size
        logdet = pixels * self.log_scale.sum()
        return y, logdet * autograd.ones(x.shape[0], dtype=x.dtype, device=x.device)

    def inverse(self, y):
        return (y - self._view(self.bias, y)) * self._view((-self.log_scale).exp(), y)
