"""The style-based generator: a learned constant, styles per layer, truncation, mixing.

Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for Generative
Adversarial Networks" (StyleGAN, arXiv:1812.04948), with StyleGAN2's generator (Karras
et al. 2020, arXiv:1912.04958): modulated convolutions and skip toRGB outputs. The layers
(mapping network, modulated convolution, noise) are stylegan_layers.py.

    w = f(z)                                   mapping network, z ~ N(0, I)
    x_4 = const (C, 4, 4)                      a learned constant, not z, starts the image
    at 4x4:        x <- conv(x; w_0)           each conv: modulated by its own style w_i,
                   img = toRGB(x; w_1)         demodulated, plus noise, bias, lrelu
    at 8, 16, ...: x <- conv(conv(up(x); w_i); w_{i+1})
                   img <- up(img) + toRGB(x; w_{i+2})     (StyleGAN2 fig. 7b, skips)
up() is bilinear 2x upsampling (StyleGAN2 uses a transposed convolution followed by a
[1, 3, 3, 1] low-pass filter: bilinear is the same kind of smooth upsampling, in one op).
Resolution R = 4 2^B has num_ws = 2 (B + 1) style inputs ws (N, num_ws, w_dim); the toRGB
of a block shares its style with the next block's first conv (as the official code).
Without mixing or truncation every ws[:, i] is the same w.

Truncation trick (StyleGAN sec. 3.1, "truncation trick in W"): pull w toward the mean
w_avg that the mapping network tracks while training,
    w' = w_avg + psi (w - w_avg):
psi = 1 is the plain generator, psi < 1 trades variety for typical-looking images, and
psi = 0 gives the image of w_avg for every z.

Style mixing regularization (StyleGAN sec. 3.1): while training, with probability p
(0.9 in the paper) an example takes its styles from two latents, w_1 for the layers
before a random crossover point and w_2 from it on,
    ws[:, i] = w_1 for i < cutoff,  w_2 for i >= cutoff,  cutoff ~ U{1, ..., num_ws - 1},
so that neighbouring layers cannot rely on sharing a style: coarse layers (early, low
resolution) control pose and shape, fine layers colour and texture. mix_styles does the
crossover; the style-mixing grid of the demo calls it with w_1 from one image and w_2
from another.

Output images are linear (no tanh, as the official generator), meant for data in
[-1, 1]; sampling.sample clips to [0, 1] after mapping [-1, 1] there. Train it with the
family's non-saturating loss and R1 (losses.py), Adam betas (0, 0.99), and sample from
an EMA of its weights (minigen/optim/ema.py).
"""
import math

import numpy as np

import autograd
from minigen import nn
import minigen.nn.functional as F

from .stylegan_layers import MappingNetwork, ModulatedConv2d

NOISE_MODES = ('random', 'const', 'none')


def mix_styles(ws_1, ws_2, cutoff):
    """ws_1 for the layers before cutoff[n], ws_2 from it on: ws (N, num_ws, w_dim) and
    cutoff (N,) ints in [0, num_ws] (num_ws keeps ws_1 alone, 0 takes ws_2 alone)."""
    xp = autograd.backend.array_module(ws_1.data)
    cutoff = xp.asarray(cutoff.data if isinstance(cutoff, autograd.Tensor) else cutoff)
    layer = xp.arange(ws_1.shape[1])
    take_2 = (layer[None, :] >= cutoff[:, None]).astype(ws_1.dtype)[:, :, None]
    take_2 = autograd.as_tensor(take_2)
    return ws_1 * (1 - take_2) + ws_2 * take_2


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> images (N, channels, R, R), from the learned constant."""

    def __init__(self, w_dim=64, image_size=16, channels=1, width=64, noise_lr_multiplier=1.0):
        super().__init__()
        blocks = math.log2(image_size / 4)
        if image_size < 8 or blocks != int(blocks):
            raise ValueError(f"SynthesisNetwork: image_size must be 4 2^n with n >= 1 (8, 16, "
                             f"32, 64, ...), got {image_size}")
        self.image_size, self.w_dim = image_size, w_dim
        self.const = nn.Parameter(autograd.randn(width, 4, 4))
        conv = lambda: ModulatedConv2d(width, width, w_dim,
                                       noise_lr_multiplier=noise_lr_multiplier)
        convs, torgbs, sizes = [conv()], [], [4]
        for b in range(int(blocks) + 1):
            if b > 0:  # two convs at the doubled resolution
                convs += [conv() for _ in range(2)]
                sizes += [4 * 2 ** b] * 2
            torgbs.append(ModulatedConv2d(width, channels, w_dim, kernel_size=1,
                                          demodulate=False, noise=False, activation=False))
        self.convs, self.torgbs = nn.ModuleList(convs), nn.ModuleList(torgbs)
        self.num_ws = len(convs) + 1
        for i, size in enumerate(sizes):  # fixed noise images, for noise_mode='const'
            self.register_buffer(f'noise_const_{i}', autograd.randn(1, 1, size, size))

    def forward(self, ws, noise_mode='random'):
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"SynthesisNetwork: expected ws of shape (N, {self.num_ws}, "
                             f"{self.w_dim}), got {ws.shape}")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"SynthesisNetwork: noise_mode must be one of {NOISE_MODES}, "
                             f"got {noise_mode!r}")
        n = ws.shape[0]

        def conv(i, x):
            noise = None  # 'random': drawn inside the layer
            if noise_mode == 'const':
                noise = getattr(self, f'noise_const_{i}').broadcast_to((n, 1) + x.shape[2:])
            elif noise_mode == 'none':
                noise = autograd.zeros(n, 1, *x.shape[2:], dtype=x.dtype, device=x.device)
            return self.convs[i](x, ws[:, i], noise)

        x = conv(0, self.const.unsqueeze(0).broadcast_to((n,) + self.const.shape))
        img = self.torgbs[0](x, ws[:, 1])
        for b in range(1, len(self.torgbs)):
            i = 2 * b - 1                                   # the block's first conv
            x = F.interpolate(x, scale_factor=2, mode='bilinear')
            x = conv(i + 1, conv(i, x))
            img = F.interpolate(img, scale_factor=2, mode='bilinear')
            img = img + self.torgbs[b](x, ws[:, i + 2])
        return img


class StyleGANGenerator(nn.Module):
    """z (N, z_dim) -> images (N, channels, R, R): mapping network, then synthesis.

    forward(z, c=None, truncation_psi=1, noise_mode='random', mixing_prob=0) follows the
    official G(z, c, truncation_psi); c (class labels) is not supported (unconditional).
    mixing_prob > 0 draws a second z per batch and mixes styles (for training)."""

    def __init__(self, z_dim=64, w_dim=64, image_size=16, channels=1, width=64,
                 mapping_layers=2, mapping_lr_multiplier=0.01, w_avg_beta=0.995,
                 noise_lr_multiplier=1.0):
        super().__init__()
        self.z_dim, self.w_dim, self.image_size, self.channels = z_dim, w_dim, image_size, channels
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_multiplier,
                                      w_avg_beta)
        self.synthesis = SynthesisNetwork(w_dim, image_size, channels, width,
                                          noise_lr_multiplier)
        self.num_ws = self.synthesis.num_ws

    def truncate(self, w, psi):
        """w' = w_avg + psi (w - w_avg)."""
        return self.mapping.w_avg + (w - self.mapping.w_avg) * psi

    def forward(self, z, c=None, truncation_psi=1.0, noise_mode='random', mixing_prob=0.0):
        if c is not None:
            raise ValueError("StyleGANGenerator: this generator is unconditional; got labels c")
        if not 0.0 <= mixing_prob <= 1.0:
            raise ValueError(f"StyleGANGenerator: mixing_prob must be in [0, 1], got {mixing_prob}")
        n = z.shape[0] if z.ndim == 2 else None
        if mixing_prob > 0:  # map both latents in one pass (w_avg sees both)
            z_2 = autograd.randn(*z.shape, dtype=z.dtype, device=z.device)
            w_both = self.mapping(autograd.cat([z, z_2], axis=0))
            w, w_2 = w_both[:n], w_both[n:]
        else:
            w = self.mapping(z)
        if truncation_psi != 1:
            w = self.truncate(w, truncation_psi)
        ws = w.unsqueeze(1).broadcast_to((n, self.num_ws, self.w_dim))
        if mixing_prob > 0:  # cutoff ~ U{1..num_ws-1} with probability p, else num_ws (no mix)
            cutoff = autograd.randint(1, self.num_ws, n, device='cpu').numpy()
            mixed = autograd.rand(n, device='cpu').numpy() < mixing_prob
            cutoff = np.where(mixed, cutoff, self.num_ws)
            ws = mix_styles(ws, w_2.unsqueeze(1).broadcast_to(ws.shape), cutoff)
        return self.synthesis(ws, noise_mode)
