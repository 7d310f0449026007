"""The MLP generator and discriminator for 2-D toy data, where a GAN's failures can be seen.

Goodfellow et al. 2014 (arXiv:1406.2661) on points instead of images: G maps z ~ N(0, I)
to a point in the plane, D scores it. The sizes follow the toy experiments of Gulrajani
et al. 2017 (arXiv:1704.00028, github.com/igul222/improved_wgan_training, gan_toy.py):

    G: z (N, 2) -> [Linear + ReLU] x 3 -> Linear(2)
    D: x (N, 2) -> [Linear + ReLU] x 3 -> Linear(1)    (a logit, as every D here)

width 512. demos/gan_2d.py trains them on a ring of Gaussians to show mode collapse.
"""
from minigen import nn


class MLPGenerator(nn.Module):
    """z (N, z_dim) -> points (N, out_dim): three hidden Linear + ReLU layers."""

    def __init__(self, z_dim=2, out_dim=2, width=512):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(nn.Linear(z_dim, width), nn.ReLU(),
                                 nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, out_dim))

    def forward(self, z):
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"MLPGenerator: expected z of shape (N, {self.z_dim}), got "
                             f"{z.shape}")
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """points (N, in_dim) -> logits (N,): three hidden Linear + ReLU layers."""

    def __init__(self, in_dim=2, width=512):
        super().__init__()
        self.in_dim = in_dim
        self.net = nn.Sequential(nn.Linear(in_dim, width), nn.ReLU(),
                                 nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, 1))

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"MLPDiscriminator: expected points of shape (N, {self.in_dim}), "
                             f"got {x.shape}")
        return self.net(x).reshape(x.shape[0])
