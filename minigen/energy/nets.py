"""The networks of the energy family: energies E(x) -> (B,) and noise-conditional scores
s(x, sigma_i) -> x's shape, for 2-D points and for images.

Energies use SiLU, a smooth activation: Langevin dynamics follows grad_x E, and a ReLU
net's input gradient is piecewise constant (Du & Mordatch 2019, arXiv:1903.08689, use the
smooth Swish = SiLU for the same reason).

The score model of NCSN (Song & Ermon 2019, arXiv:1907.05600) is one network for every
noise level. Song & Ermon 2020 (arXiv:2006.09011, "Improved Techniques for Training
Score-Based Generative Models", technique 3) observe that ||s*(x, sigma)|| ~ 1 / sigma and
parameterize s_theta(x, sigma) = net(x) / sigma; here the net also reads the level index
i (through the DDPM UNet's sinusoidal embedding, minigen/diffusion/unet.py), so

    s_theta(x, sigma_i) = net(x, i) / sigma_i,

and the weighted loss sigma^2 l of score_matching.py becomes 1/2 E || net(x_tilde, i) + z ||^2:
net is trained exactly as DDPM's eps_theta, up to its sign.
"""
import numpy as np

import autograd
from autograd import backend
from minigen import nn
from minigen.diffusion.unet import UNet, timestep_embedding


class EnergyMLP(nn.Module):
    """E(x) for points x (B, dim): `depth` hidden Linear + SiLU layers of `width`, then one
    Linear to a scalar. Returns (B,)."""

    def __init__(self, dim=2, width=128, depth=3):
        super().__init__()
        layers, d = [], dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.SiLU()]
            d = width
        self.net = nn.Sequential(*layers, nn.Linear(d, 1))

    def forward(self, x):
        return self.net(x).reshape(x.shape[0])


class EnergyConvNet(nn.Module):
    """E(x) for images (B, C, H, W): a 3x3 conv, then two stride-2 3x3 convs (H / 4), each
    followed by SiLU, and a Linear to a scalar. Returns (B,)."""

    def __init__(self, in_channels=1, resolution=28, width=16):
        super().__init__()
        side = (resolution + 3) // 4  # two stride-2 convs with padding 1: ceil(ceil(H / 2) / 2)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Flatten(), nn.Linear(2 * width * side * side, 1))

    def forward(self, x):
        return self.net(x).reshape(x.shape[0])


class ScoreMLP(nn.Module):
    """net(x, i) for points: [x, sinusoidal embedding of the level index i] through `depth`
    Linear + SiLU layers of `width`, then a Linear back to `dim`."""

    def __init__(self, dim=2, width=128, depth=3, emb_dim=32):
        super().__init__()
        self.emb_dim = emb_dim
        layers, d = [], dim + emb_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.SiLU()]
            d = width
        self.net = nn.Sequential(*layers, nn.Linear(d, dim))

    def forward(self, x, i):
        return self.net(autograd.cat([x, timestep_embedding(i, self.emb_dim).astype(x.dtype)],
                                     axis=1))


class NoiseConditionalScore(nn.Module):
    """s_theta(x, sigma_i) = net(x, i) / sigma_i for a net(x, i) -> x's shape (ScoreMLP,
    UNet) and the ladder `sigmas` (sigma_1 first); called with i, (B,) int64 indices."""

    def __init__(self, net, sigmas):
        super().__init__()
        self.net = net
        self.sigmas = np.asarray(sigmas, np.float64)

    def forward(self, x, i):
        index = backend.to_numpy(i.data)
        if i.shape != (x.shape[0],) or index.min() < 0 or index.max() >= len(self.sigmas):
            raise ValueError(f"NoiseConditionalScore: i must be {x.shape[0]} level indices in "
                             f"[0, {len(self.sigmas)}), got shape {i.shape}")
        sigma = autograd.tensor(self.sigmas[index], dtype=x.dtype, device=x.device)
        return self.net(x, i) / sigma.reshape((x.shape[0],) + (1,) * (x.ndim - 1))

    def extra_repr(self):
        return f"levels={len(self.sigmas)}, sigma {self.sigmas[0]:.3g} -> {self.sigmas[-1]:.3g}"


def unet_score(sigmas, in_channels=1, resolution=28, base_channels=16, channel_mults=(1, 2, 2)):
    """The NCSN score model for images: the project's DDPM UNet, its timestep input given the
    level index i, with attention at the lowest resolution, divided by sigma_i."""
    low = resolution // 2 ** (len(channel_mults) - 1)
    return NoiseConditionalScore(UNet(in_channels, resolution, base_channels, channel_mults,
                                      attention_resolutions=(low,)), sigmas)
