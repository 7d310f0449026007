"""The networks inside a coupling layer: b * x -> (h, t), the raw log-scale and the shift.

They need not be invertible (coupling.py inverts around them), so any network will do.
Two are used here:

    ConvNet   Glow's NN() (Kingma & Dhariwal 2018, arXiv:1807.03039, sec. 3.3 and its code):
              conv 3x3 -> ReLU -> conv 1x1 -> ReLU -> conv 3x3, the last one zero at first
    MLP       for 2-D points: Linear -> ReLU -> ... -> Linear, the last one zero at first

Zero last layers make every coupling start as the identity map (Glow sec. 3.3: "we
initialize the last convolution of each NN() with zeros, such that each affine coupling
layer initially performs an identity function; we found this helps training very deep
networks"), and log |det| = 0 at the start.
"""
import minigen.nn as nn


def _zero(layer):
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class ConvNet(nn.Sequential):
    """(N, C, H, W) -> (N, 2C, H, W) through `hidden` channels."""

    def __init__(self, channels, hidden):
        super().__init__(nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
                         _zero(nn.Conv2d(hidden, 2 * channels, 3, padding=1)))


class MLP(nn.Sequential):
    """(N, D) -> (N, 2D) through `layers` hidden layers of `hidden` units."""

    def __init__(self, dim, hidden, layers=2):
        sizes = [dim] + [hidden] * layers
        body = []
        for a, b in zip(sizes, sizes[1:]):
            body += [nn.Linear(a, b), nn.ReLU()]
        super().__init__(*body, _zero(nn.Linear(hidden, 2 * dim)))
