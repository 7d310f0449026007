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

With a channel mask, half of the network's input is zeros and half of its output is
thrown away. ChannelCoupling is the same map written as Glow's code writes it, on the two
halves x = (x_a, x_b) (x_a kept; parity 1 keeps the second half):

    y_a = x_a,    y_b = x_b * exp(s(x_a)) + t(x_a),    log |det dy/dx| = sum s(x_a)

whose network maps C/2 channels to C (s and t of x_b only): the same family of maps, with
about half the work in the first and last convolutions.
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


def bounded(raw, scale, log_bound=None):
    """s from the network's raw output h: exp(a) tanh(h / exp(a)) ('tanh', a = log_bound)
    or -softplus(-(h + 2)) ('sigmoid')."""
    if scale == 'tanh':
        bound = log_bound.exp()
        return bound * (raw / bound).tanh()
    return -autograd.softplus(-(raw + 2.0))


def check_scale(scale, where):
    if scale not in SCALES:
        raise ValueError(f"{where}: scale must be one of {SCALES}, got {scale!r}")


class AffineCoupling(nn.Module):
    """y = b x + (1 - b)(x exp(s(b x)) + t(b x)) on x (N, C, H, W) or (N, C), with `net`
    mapping b x to the raw scale h and the shift t stacked on axis 1, (N, 2C, ...).
    mask: a float array broadcast against x (checkerboard_mask or channel_mask)."""

    def __init__(self, channels, mask, net, scale='tanh'):
        super().__init__()
        check_scale(scale, 'AffineCoupling')
        self.scale, self.net = scale, net
        self.register_buffer('mask', autograd.tensor(np.asarray(mask, np.float32)))
        if scale == 'tanh':  # a, one per channel
            shape = (1, channels) + (1,) * (self.mask.ndim - 2)
            self.log_bound = nn.Parameter(autograd.zeros(*shape))

    def _scale_shift(self, x_kept):
        """s and t, both zero where b = 1."""
        h = self.net(x_kept)
        c = x_kept.shape[1]
        free = 1 - self.mask
        log_bound = getattr(self, 'log_bound', None)
        return bounded(h[:, :c], self.scale, log_bound) * free, h[:, c:] * free

    def forward(self, x):
        b = self.mask
        s, t = self._scale_shift(x * b)
        y = x * s.exp() + t  # s = t = 0 where b = 1: y = x there
        return y, s.reshape(x.shape[0], -1).sum(axis=1)

    def inverse(self, y):
        b = self.mask
        s, t = self._scale_shift(y * b)
        return (y - t) * (-s).exp()


class ChannelCoupling(nn.Module):
    """AffineCoupling with channel_mask(channels, parity) on x (N, C, H, W), computed on the
    halves: `net` maps the kept C/2 channels to (h, t) of the other half, (N, C, H, W)."""

    def __init__(self, channels, parity, net, scale='tanh'):
        super().__init__()
        check_scale(scale, 'ChannelCoupling')
        if channels % 2:
            raise ValueError(f"ChannelCoupling: the channels split in two halves, got {channels}")
        self.scale, self.net, self.parity = scale, net, parity
        if scale == 'tanh':  # a, one per transformed channel
            self.log_bound = nn.Parameter(autograd.zeros(1, channels // 2, 1, 1))

    def _halves(self, x):
        """(x_a, x_b): the kept half and the transformed one."""
        c = x.shape[1] // 2
        first, second = x[:, :c], x[:, c:]
        return (second, first) if self.parity else (first, second)

    def _join(self, x_a, y_b):
        return autograd.cat([y_b, x_a] if self.parity else [x_a, y_b], axis=1)

    def _scale_shift(self, x_a):
        h = self.net(x_a)
        c = x_a.shape[1]
        return bounded(h[:, :c], self.scale, getattr(self, 'log_bound', None)), h[:, c:]

    def forward(self, x):
        x_a, x_b = self._halves(x)
        s, t = self._scale_shift(x_a)
        return self._join(x_a, x_b * s.exp() + t), s.reshape(x.shape[0], -1).sum(axis=1)

    def inverse(self, y):
        y_a, y_b = self._halves(y)
        s, t = self._scale_shift(y_a)
        return self._join(y_a, (y_b - t) * (-s).exp())
