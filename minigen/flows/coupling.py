"""Affine coupling: half of the variables, left as they are, set a scale and a shift for
the other half, so the map is invertible in closed form and its Jacobian is triangular.

Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP" (arXiv:1605.08803),
sec. 3.3-3.4; Kingma & Dhariwal 2018, "Glow" (arXiv:1807.03039), sec. 3.3.

With a binary mask b (1: the conditioning half, passed through),

    y = b * x + (1 - b) * (x * exp(s(b * x)) + t(b * x))                  (RealNVP eq. 9)

where s and t are any networks (nets.py). Since b * y = b * x, the inverse needs the same
s and t:

    x = b * y + (1 - b) * (y - t(b * y)) * exp(-s(b * y)),

and dy/dx is triangular with diagonal 1 (where b = 1) and exp(s) (where b = 0), so

    log |det dy/dx| = sum_i (1 - b_i) s_i.                               (RealNVP eq. 6)

Masks (sec. 3.4): a checkerboard over the pixels, b_ij = (i + j + parity) mod 2, or a split
of the channels, b_c = 1 for one half; `parity` swaps the halves, so that consecutive
couplings update each variable in turn. For vectors (N, D) the channel mask splits the
coordinates.

A bounded scale. An unbounded s (exp of a raw network output) is the classic cause of
NaN log-determinants early in training (ikostrikov/pytorch-flows#4), so s is squashed:
    'tanh':     s = exp(a) tanh(h / exp(a)),  a learned per channel, 0 at first
                (|s| < exp(a); the form of the UvA tutorial on RealNVP for MNIST)
    'sigmoid':  exp(s) = sigmoid(h + 2),  s = -softplus(-(h + 2))       (Glow's code)
                (the scale stays in (0, 1); 0.88 at h = 0)
with h the network's raw output. With the network's last layer zero (nets.py) a 'tanh'
coupling starts as the identity.
"""
import numpy as np

import autograd
import minigen.nn as nn

SCALES = ('tanh', 'sigmoid')


def checkerboard_mask(height, width, parity=0):
    """b (1, 1, H, W), b_ij = (i + j + parity) mod 2 == 0: float32 ones on the kept squares."""
    i, j = np.meshgrid(np.arange(height), np.arange(width), indexing='ij')
    return ((i + j + parity) % 2 == 0).astype(np.float32)[None, None]


def channel_mask(channels, parity=0, spatial=True):
    """b (1, C, 1, 1) (or (1, C) for vectors, spatial=False): ones on the first half of the
    channels, on the second half with parity 1."""
    b = (np.arange(channels) < channels // 2) != bool(parity)
    b = b.astype(np.float32)[None]
    return b[:, :, None, None] if spatial else b


class AffineCoupling(nn.Module):
    """y = b x + (1 - b)(x exp(s(b x)) + t(b x)) on x (N, C, H, W) or (N, C), with `net`
    mapping b x to the raw scale h and the shift t stacked on axis 1, (N, 2C, ...).
    mask: a float array broadcast against x (checkerboard_mask or channel_mask)."""

    def __init__(self, channels, mask, net, scale='tanh'):
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"AffineCoupling: scale must be one of {SCALES}, got {scale!r}")
        self.scale, self.net = scale, net
        self.register_buffer('mask', autograd.tensor(np.asarray(mask, np.float32)))
        if scale == 'tanh':  # a, one per channel
            shape = (1, channels) + (1,) * (self.mask.ndim - 2)
            self.log_bound = nn.Parameter(autograd.zeros(*shape))

    def _scale_shift(self, x_kept):
        """s (bounded, as the docstring says) and t, both zero where b = 1."""
        h = self.net(x_kept)
        c = x_kept.shape[1]
        raw, t = h[:, :c], h[:, c:]
        if self.scale == 'tanh':
            bound = self.log_bound.exp()
            s = bound * (raw / bound).tanh()
        else:
            s = -autograd.softplus(-(raw + 2.0))
        free = 1 - self.mask
        return s * free, t * free

    def forward(self, x):
        b = self.mask
        s, t = self._scale_shift(x * b)
        y = x * s.exp() + t  # s = t = 0 where b = 1: y = x there
        return y, s.reshape(x.shape[0], -1).sum(axis=1)

    def inverse(self, y):
        b = self.mask
        s, t = self._scale_shift(y * b)
        return (y - t) * (-s).exp()
