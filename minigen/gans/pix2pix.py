"""pix2pix: paired image-to-image translation with a U-Net and a PatchGAN.

Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional Adversarial
Networks" (arXiv:1611.07004). Given pairs (x, y), a generator G learns y = G(x, z) and a
discriminator D judges pairs (x, y), so it can tell whether an output fits its input:
    L_cGAN(G, D) = E_{x,y} log D(x, y) + E_{x,z} log(1 - D(x, G(x, z)))        (eq. 1)
    L_L1(G)      = E_{x,y,z} ||y - G(x, z)||_1                                (eq. 3)
    G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G),   lambda = 100        (eq. 4)
L1 alone gives blurry but correct outputs (it is minimized by the median of the possible
y); the adversarial term adds what L1 averages away, sharp edges. As in the paper, G
minimises the non-saturating -log D(x, G(x)) instead of log(1 - D), and D's objective is
halved (it learns slower than G). Outputs and targets are in [-1, 1].

U-Net generator (sec. 3.2.1, appendix 6.1.1; as junyanz/pytorch-CycleGAN-and-pix2pix's
UnetGenerator): an encoder of stride-2 4x4 convolutions e_1 ... e_n halving the map
down to a bottleneck, a decoder of stride-2 transposed convolutions d_n ... d_1, and
skip connections that concatenate e_i to the decoder's input at the same resolution,
so the low-level detail that input and output share (here, where the edges are) need
not pass through the bottleneck:
    e_1 = conv(x);  e_i = norm(conv(lrelu(e_{i-1}))), i < n;  e_n = conv(lrelu(e_{n-1}))
    d_n = norm(convT(relu(e_n)));  d_i = norm(convT(relu([d_{i+1}, e_i])))
    G(x) = tanh(convT(relu([d_2, e_1])))
channels ngf, 2 ngf, 4 ngf, 8 ngf, 8 ngf, ... (capped at 8 ngf). The noise z is dropout
(p = 0.5) in the decoder layers whose output is at most 8x8 (the paper's first three of
seven at 256 px; two at 32 px with n = 4), "at both training and test time": it stays on
in eval mode.

PatchGAN discriminator (sec. 3.2.2; junyanz's NLayerDiscriminator with n_layers): D sees
concat(x, y) and returns a map of logits, each judging one N x N patch; the loss averages
them. The layers (all 4x4 convolutions, padding 1)
    conv(s 2) lrelu,  [conv(s 2) norm lrelu] x (n_layers - 1),  conv(s 1) norm lrelu,  conv(s 1)
have the receptive field r_0 given by r_L = 1, r_{l-1} = (r_l - 1) s_l + k_l (from the
last layer back): n_layers = 1 gives 16 x 16 pixels, n_layers = 2 gives 34 and 3 the
paper's 70. At 32 x 32 only n_layers = 1 keeps the patch smaller than the image (16 px,
a 14 x 14 map of logits), so D judges local texture and edges and leaves the global
layout to L1. receptive_field() computes it from the layers; the tests check it by the
engine: a logit's gradient w.r.t. the input is nonzero only in its 16 x 16 window.
The field counts the convolutions only: normalization statistics computed over the
image (instance norm, batch norm in training) pass a global summary to every logit;
batch norm in eval mode, or no norm, keeps each logit strictly local.

Norms: 'batch' (the pix2pix paper), 'instance' (CycleGAN; GroupNorm with one group per
channel, affine) or None.
"""
import autograd
from minigen import nn
import minigen.nn.functional as F

from .losses import discriminator_loss, generator_loss

NORMS = ('batch', 'instance', None)


def norm_layer(kind, channels):
    """BatchNorm2d, instance norm (GroupNorm(C, C)) or Identity, by name."""
    if kind not in NORMS:
        raise ValueError(f"gans.pix2pix: norm must be one of {NORMS}, got {kind!r}")
    if kind == 'batch':
        return nn.BatchNorm2d(channels)
    return nn.GroupNorm(channels, channels) if kind == 'instance' else nn.Identity()


class UNetGenerator(nn.Module):
    """x (N, in_channels, S, S) -> G(x) (N, out_channels, S, S) in [-1, 1]; S divisible by
    2^num_downs. Dropout (the noise z) stays on in eval mode, as in the paper."""

    def __init__(self, in_channels=3, out_channels=3, num_downs=4, ngf=32, norm='instance',
                 dropout=0.5, image_size=32):
        super().__init__()
        if num_downs < 2 or image_size % 2 ** num_downs:
            raise ValueError(f"UNetGenerator: need num_downs >= 2 and image_size divisible by "
                             f"2^num_downs, got num_downs={num_downs}, image_size={image_size}")
        self.in_channels, self.image_size, self.p = in_channels, image_size, dropout
        width = [ngf * min(2 ** i, 8) for i in range(num_downs)]          # e_1 ... e_n
        self.down = nn.ModuleList(
            [nn.Conv2d(in_channels, width[0], 4, 2, 1)]
            + [nn.Conv2d(a, b, 4, 2, 1) for a, b in zip(width[:-1], width[1:])])
        self.down_norm = nn.ModuleList(
            [nn.Identity()] + [norm_layer(norm, c) for c in width[1:-1]] + [nn.Identity()])
        # decoder d_n ... d_2: input e_n, then [d_{i+1}, e_i]; output width[i - 2]
        ins = [width[-1]] + [2 * c for c in width[-2:0:-1]]
        outs = width[-2::-1]
        self.up = nn.ModuleList([nn.ConvTranspose2d(a, b, 4, 2, 1) for a, b in zip(ins, outs)])
        self.up_norm = nn.ModuleList([norm_layer(norm, c) for c in outs])
        sizes = [image_size // 2 ** (num_downs - 1 - j) for j in range(num_downs - 1)]
        self.up_dropout = [s <= 8 for s in sizes]                        # d_i's output size
        self.out = nn.ConvTranspose2d(2 * width[0], out_channels, 4, 2, 1)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1:] != (self.in_channels, self.image_size, self.image_size):
            raise ValueError(f"UNetGenerator: expected x of shape (N, {self.in_channels}, "
                             f"{self.image_size}, {self.image_size}), got {x.shape}")
        skips = []
        h = x
        for i, (conv, norm) in enumerate(zip(self.down, self.down_norm)):
            h = norm(conv(h if i == 0 else F.leaky_relu(h, 0.2)))
            skips.append(h)
        h = skips.pop()                                                   # e_n
        for conv, norm, drop in zip(self.up, self.up_norm, self.up_dropout):
            h = norm(conv(F.relu(h)))
            if drop:  # the noise z: always on
                h = F.dropout(h, self.p, training=True)
            h = autograd.cat([h, skips.pop()], axis=1)                    # [d_i, e_{i-1}]
        return F.tanh(self.out(F.relu(h)))


class PatchDiscriminator(nn.Module):
    """(x, y) (N, C_x, S, S), (N, C_y, S, S) -> patch logits (N, 1, S', S'): PatchGAN on
    concat(x, y). With y_channels=0 it judges y alone (D(y) -> logits; CycleGAN)."""

    def __init__(self, x_channels=3, y_channels=3, ndf=32, n_layers=1, norm='instance'):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"PatchDiscriminator: n_layers must be >= 1, got {n_layers}")
        width = [ndf * min(2 ** i, 8) for i in range(n_layers + 1)]
        layers = [nn.Conv2d(x_channels + y_channels, width[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for i in range(1, n_layers + 1):                                  # stride 2, then 1
            layers += [nn.Conv2d(width[i - 1], width[i], 4, 2 if i < n_layers else 1, 1),
                       norm_layer(norm, width[i]), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(width[-1], 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        self.channels = x_channels + y_channels

    def receptive_field(self):
        """r_0 from r_L = 1 and r_{l-1} = (r_l - 1) s_l + k_l over the convolutions."""
        r = 1
        for conv in reversed([m for m in self.net if isinstance(m, nn.Conv2d)]):
            r = (r - 1) * conv.stride[0] + conv.kernel_size[0]
        return r

    def forward(self, x, y=None):
        h = x if y is None else autograd.cat([x, y], axis=1)
        if h.ndim != 4 or h.shape[1] != self.channels:
            raise ValueError(f"PatchDiscriminator: expected {self.channels} channels in "
                             f"concat(x, y), got shape {h.shape}")
        return self.net(h)


def discriminator_objective(D, x, y, fake):
    """D's loss, halved (sec. 3.3): (BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)) / 2 over all
    patches; fake = G(x) is detached here."""
    real_logits, fake_logits = D(x, y), D(x, fake.detach())
    return 0.5 * discriminator_loss(real_logits.reshape(-1), fake_logits.reshape(-1))


def generator_objective(D, x, y, fake, lam=100.0):
    """(total, gan, l1): gan = -E log D(x, G(x)) (non-saturating), l1 = E |y - G(x)|,
    total = gan + lam l1 (eq. 4). lam = 100 is the paper's."""
    gan = generator_loss(D(x, fake).reshape(-1))
    l1 = (y - fake).abs().mean()
    return gan + lam * l1, gan, l1
