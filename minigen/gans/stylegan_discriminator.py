"""StyleGAN2's residual discriminator with the minibatch standard deviation layer.

Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN" (StyleGAN2,
arXiv:1912.04958, fig. 7c: the "resnet" discriminator), with the minibatch stddev of
Karras et al. 2018 (Progressive GANs, arXiv:1710.10196, sec. 3). Every layer has an
equalized learning rate (stylegan_layers.py), so Adam at the generator's rate (2e-3)
moves D's outputs at the same relative speed as G's.

    x_R = lrelu(fromRGB(img))                              1x1 conv, at R x R
    for each resolution R -> R/2 (a residual block):
        y = conv_1x1(down(x)),   h = conv_3x3(down(lrelu(conv_3x3(x))))
        x <- (y + lrelu(h)) / sqrt(2)          (the sum of two unit-variance branches)
    at 4x4: x <- [x, mbstd(x)],  lrelu(conv_3x3),  lrelu(fc),  fc -> one logit
down() is the 2x2 mean (StyleGAN2 low-pass filters with [1, 3, 3, 1] and strides the
conv; the mean is the same kind of anti-aliased downsampling in one op), done before
the second conv so that it runs at the lower resolution.

Minibatch standard deviation (Progressive GANs sec. 3, "increasing variation"): split
the batch into groups of G examples (G = 4), take the std of every feature over each
group, average it over features and pixels to one number per group, and append it as a
constant feature map to each of the group's examples:
    sigma_g = mean_{c,h,w} sqrt(Var_{i in g}(x_{i,c,h,w}) + 1e-8)
D then sees how varied a batch is; a generator that collapses onto a few modes gives a
small sigma that D can tell from the reals', so collapse is penalized. The groups take
examples i, i + N/G, i + 2N/G, ... (the official reshape). MinibatchStdDiscriminator
puts the same layer before the head of a DCGAN-shaped discriminator (demos.stylegan --mbstd).
"""
import math

import autograd
from minigen import nn
import minigen.nn.functional as F

from .stylegan_layers import EqualizedConv2d, EqualizedLinear, lrelu


def down(x):
    """2x2 mean: (N, C, H, W) -> (N, C, H/2, W/2) (avg_pool2d, twice differentiable for R1)."""
    return F.avg_pool2d(x, 2)


def minibatch_stddev(x, group_size=4, eps=1e-8):
    """x (N, C, H, W) -> (N, C + 1, H, W): sigma of x's group appended as a channel. The
    group is the largest divisor of N up to group_size."""
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    y = x.reshape(g, n // g, c, h, w)
    y = y - y.mean(axis=0, keepdims=True)
    sigma = ((y * y).mean(axis=0) + eps).sqrt().mean(axis=(1, 2, 3))         # (N/G,)
    sigma = sigma.reshape(1, n // g, 1, 1, 1).broadcast_to((g, n // g, 1, h, w))
    return autograd.cat([x, sigma.reshape(n, 1, h, w)], axis=1)


class ResidualBlock(nn.Module):
    """x (N, C_in, R, R) -> (N, C_out, R/2, R/2): (skip + main) / sqrt(2)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3)
        self.skip = EqualizedConv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x):
        h = lrelu(self.conv1(down(lrelu(self.conv0(x)))))
        return (self.skip(down(x)) + h) * (1 / math.sqrt(2))


class StyleGANDiscriminator(nn.Module):
    """images (N, channels, R, R) -> logits (N,). widths: channels at R, R/2, ..., 4
    (default: width, doubling per halving)."""

    def __init__(self, image_size=16, channels=1, width=32, mbstd_group=4):
        super().__init__()
        blocks = math.log2(image_size / 4)
        if image_size < 8 or blocks != int(blocks):
            raise ValueError(f"StyleGANDiscriminator: image_size must be 4 2^n with n >= 1, "
                             f"got {image_size}")
        self.image_size, self.channels, self.mbstd_group = image_size, channels, mbstd_group
        widths = [width * 2 ** i for i in range(int(blocks) + 1)]
        self.from_rgb = EqualizedConv2d(channels, widths[0], 1)
        self.blocks = nn.ModuleList([ResidualBlock(a, b) for a, b in zip(widths, widths[1:])])
        top = widths[-1]
        self.conv = EqualizedConv2d(top + (1 if mbstd_group else 0), top, 3)
        self.fc = EqualizedLinear(top * 16, top)
        self.out = EqualizedLinear(top, 1)

    def forward(self, x):
        size = self.image_size
        if x.ndim != 4 or x.shape[1:] != (self.channels, size, size):
            raise ValueError(f"StyleGANDiscriminator: expected images of shape (N, "
                             f"{self.channels}, {size}, {size}), got {x.shape}")
        h = lrelu(self.from_rgb(x))
        for block in self.blocks:
            h = block(h)
        if self.mbstd_group:
            h = minibatch_stddev(h, self.mbstd_group)
        h = lrelu(self.conv(h))
        h = lrelu(self.fc(h.reshape(x.shape[0], -1)))
        return self.out(h).reshape(x.shape[0])


class MinibatchStdDiscriminator(nn.Module):
    """A discriminator with features phi and a conv head psi (DCGANDiscriminator's shape),
    given the minibatch stddev channel before its head: logit = psi([phi(x), sigma])."""

    def __init__(self, base, group_size=4):
        super().__init__()
        head = base.head
        out_ch, in_ch, k, _ = head.weight.shape
        self.image_size, self.channels = base.image_size, base.channels
        self.features, self.group_size = base.features, group_size
        self.head = nn.Conv2d(in_ch + 1, out_ch, k, 1, 0, bias=head.bias is not None)
        with autograd.no_grad():  # phi's channels keep psi's initial weights; sigma's start at 0
            self.head.weight.data[...] = 0
            self.head.weight.data[:, :in_ch] = head.weight.data
            if head.bias is not None:
                self.head.bias.data[...] = head.bias.data

    def forward(self, x):
        h = minibatch_stddev(self.features(x), self.group_size)
        return self.head(h).reshape(x.shape[0])
