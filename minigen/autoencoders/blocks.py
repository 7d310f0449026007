"""Encoder and decoder building blocks shared by the autoencoders (AE, VAE, VQ-VAE).

A convolutional encoder halves the picture at each level with a strided convolution,
then normalises and applies a non-linearity (as DCGAN's discriminator, Radford et al. 2015,
arXiv:1511.06434, with GroupNorm, Wu & He 2018, arXiv:1803.08494, instead of BatchNorm):

    down(h) = SiLU(GroupNorm(Conv4x4,stride 2,pad 1(h)))        H -> H/2

and the decoder mirrors it with transposed convolutions (the "fractionally strided"
convolutions of DCGAN's generator):

    up(h)   = SiLU(GroupNorm(ConvT4x4,stride 2,pad 1(h)))       H -> 2H

A 28x28 digit becomes a 7x7 feature map after two levels. `ImageToVector` and
`VectorToImage` put a Linear layer at the bottleneck, for models whose latent is a
vector (AE, VAE); the MLP variant flattens the picture instead (Kingma & Welling 2013,
arXiv:1312.6114, used one hidden layer of 400 or 500 units), which is all a 2-D latent needs.
"""
import math

import minigen.nn as nn


def check_images(x, image_shape, where):
    """Raise a ValueError naming `where` unless x is a batch (N,) + image_shape."""
    if tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(f"{where}: expected images of shape "
                         f"(N, {', '.join(map(str, image_shape))}), got {x.shape}")


def _groups(channels):
    """The largest of 8, 4, 2, 1 groups that divides `channels` for GroupNorm."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


def down_block(c_in, c_out):
    """Conv 4x4 stride 2 -> GroupNorm -> SiLU: halves height and width."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1),
                         nn.GroupNorm(_groups(c_out), c_out), nn.SiLU())


def up_block(c_in, c_out):
    """ConvTranspose 4x4 stride 2 -> GroupNorm -> SiLU: doubles height and width."""
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1),
                         nn.GroupNorm(_groups(c_out), c_out), nn.SiLU())


class ConvEncoder(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H / 2^L, W / 2^L) with L = len(channels)
    down blocks, then a 1x1 convolution to out_channels (no activation after it)."""

    def __init__(self, in_channels, channels=(32, 64), out_channels=64):
        super().__init__()
        widths = (in_channels,) + tuple(channels)
        self.down = nn.Sequential(*[down_block(a, b) for a, b in zip(widths, widths[1:])])
        self.out = nn.Conv2d(widths[-1], out_channels, 1)

    def forward(self, x):
        return self.out(self.down(x))


class ConvDecoder(nn.Module):
    """(N, in_channels, h, w) -> (N, out_channels, h 2^L, w 2^L): a 3x3 convolution to
    channels[-1], up blocks through reversed(channels), and a last 3x3 convolution to
    out_channels with no activation (the caller reads it as logits or as a mean)."""

    def __init__(self, in_channels, channels=(32, 64), out_channels=1):
        super().__init__()
        widths = tuple(reversed(channels))
        self.inp = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1),
                                 nn.GroupNorm(_groups(widths[0]), widths[0]), nn.SiLU())
        self.up = nn.Sequential(*[up_block(a, b) for a, b in zip(widths, widths[1:] + widths[-1:])])
        self.out = nn.Conv2d(widths[-1], out_channels, 3, padding=1)

    def forward(self, h):
        return self.out(self.up(self.inp(h)))


class MLP(nn.Module):
    """Linear layers of the given sizes with ReLU between them (none after the last)."""

    def __init__(self, sizes):
        super().__init__()
        layers = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def _check_shape(image_shape, hidden, arch, where):
    if arch not in ('conv', 'mlp'):
        raise ValueError(f"{where}: arch must be 'conv' or 'mlp', got {arch!r}")
    if len(image_shape) != 3:
        raise ValueError(f"{where}: image_shape must be (C, H, W), got {image_shape}")
    step = 2 ** len(hidden)
    if arch == 'conv' and (image_shape[1] % step or image_shape[2] % step):
        raise ValueError(f"{where}: {len(hidden)} down levels need H and W divisible by "
                         f"{step}, got {image_shape}")


class ImageToVector(nn.Module):
    """(N, C, H, W) -> (N, out_dim). 'conv': down blocks through hidden, flatten, Linear;
    'mlp': flatten, MLP(C*H*W, *hidden, out_dim)."""

    def __init__(self, image_shape, out_dim, arch='conv', hidden=(32, 64)):
        super().__init__()
        _check_shape(image_shape, hidden, arch, 'blocks.ImageToVector')
        self.image_shape, self.arch = tuple(image_shape), arch
        c, h, w = image_shape
        if arch == 'conv':
            s = 2 ** len(hidden)
            widths = (c,) + tuple(hidden)
            self.features = nn.Sequential(*[down_block(a, b) for a, b in zip(widths, widths[1:])])
            self.head = nn.Linear(hidden[-1] * (h // s) * (w // s), out_dim)
        else:
            self.head = MLP((c * h * w,) + tuple(hidden) + (out_dim,))

    def forward(self, x):
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"blocks.ImageToVector: expected images of shape "
                             f"(N, {', '.join(map(str, self.image_shape))}), got {x.shape}")
        if self.arch == 'conv':
            x = self.features(x)
        return self.head(x.reshape(x.shape[0], -1))


class VectorToImage(nn.Module):
    """(N, in_dim) -> (N, C, H, W) of unbounded values (logits or means). 'conv': Linear
    to a (hidden[-1], H/2^L, W/2^L) map, then ConvDecoder; 'mlp': MLP, reshape."""

    def __init__(self, in_dim, image_shape, arch='conv', hidden=(32, 64)):
        super().__init__()
        _check_shape(image_shape, hidden, arch, 'blocks.VectorToImage')
        self.image_shape, self.arch = tuple(image_shape), arch
        c, h, w = image_shape
        if arch == 'conv':
            s = 2 ** len(hidden)
            self.map_shape = (hidden[-1], h // s, w // s)
            self.head = nn.Sequential(nn.Linear(in_dim, math.prod(self.map_shape)), nn.SiLU())
            self.body = ConvDecoder(hidden[-1], hidden, c)
        else:
            self.head = MLP((in_dim,) + tuple(reversed(hidden)) + (c * h * w,))

    def forward(self, z):
        x = self.head(z)
        if self.arch == 'conv':
            return self.body(x.reshape(z.shape[0], *self.map_shape))
        return x.reshape(z.shape[0], *self.image_shape)
