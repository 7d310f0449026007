"""The DDPM UNet: the network eps_theta(x_t, t) of a diffusion model.

Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models" (arXiv:2006.11239),
appendix B: a PixelCNN++-style UNet of wide ResNet blocks with group normalization, self-
attention at the 16x16 resolution, and the timestep t fed to every block through a
sinusoidal embedding (Vaswani et al. 2017, arXiv:1706.03762, section 3.5):

    emb(t)_i = sin(t f_i),  emb(t)_{half+i} = cos(t f_i),   f_i = exp(-ln(10000) i / half)
    temb = Linear(SiLU(Linear(emb(t))))                        (width 4 * base channels)

Shapes for x of (B, C, H, W), one level per channel multiplier m (width base * m):

    conv_in: 3x3 conv to `base` channels                       skip stack: [h]
    down:    per level, ResBlocks (each + AttnBlock where H is an attention resolution),
             each output pushed; then a stride-2 3x3 conv (not at the last level), pushed
    middle:  ResBlock, AttnBlock, ResBlock
    up:      per level in reverse, ResBlocks + 1 on concat(h, popped skip) along channels
             (+ AttnBlock), then nearest x2 upsampling and a 3x3 conv (not at level 0)
    out:     GroupNorm, SiLU, 3x3 conv back to C channels

ResBlock(x, temb):  h = conv3x3(SiLU(GN(x)));  h = conv3x3(dropout(SiLU(GN'(h))));  skip(x) + h
  where the time enters GN' either by addition, GN'(h) = GN(h + Linear(SiLU(temb))), as in
  Ho et al., or as adaptive group norm (Dhariwal & Nichol 2021, arXiv:2105.05233, section 3):
  (scale, shift) = Linear(SiLU(temb)),  GN'(h) = GN(h) (1 + scale) + shift.
AttnBlock(x):  q, k, v = conv1x1(GN(x)) as (B, HW, C);  x + conv1x1(softmax(q k^T / sqrt(C)) v)
  (single head), followed, when the UNet has a context, by cross-attention (Rombach et al.
  2022, arXiv:2112.10752, section 3.3): the HW positions of GN(x) are the queries, a context
  sequence c (B, L, context_dim), e.g. per-token text states, gives the keys and values,
      x + MHA(GN(x), c),   MHA = nn.MultiheadAttention(C, 1, kdim=vdim=context_dim)
  with nn.MultiheadAttention's mask convention: key_padding_mask True = a padding token,
  ignored.
Class conditioning adds Embedding(y) to temb; the extra class `null_class` is "no label",
which classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598) trains and samples with.
As in Ho et al., the last conv of each residual branch and the output conv start at zero,
so every block starts as the identity.

Fused for speed: each SiLU(GN(.)) above is one nn.GroupNormSiLU layer (minigen/nn/norm.py),
which computes the pair as a single op; its parameters and names are GroupNorm's. And the
upsampling's conv3x3(nearest x2(x)) runs as four 2x2 convolutions of x, one per output
phase (upsampled_conv3x3 below), with the same Conv2d parameters.
"""
import math

import numpy as np

from autograd import as_tensor, backend, cat, no_grad, stack
from minigen import nn
import minigen.nn.functional as F


def timestep_embedding(t, dim):
    """[sin(t f_i), cos(t f_i)] for f_i = exp(-ln(10000) i / (dim/2)): (B,) ints -> (B, dim)."""
    xp = backend.array_module(t.data)
    half = dim // 2
    freqs = xp.exp(-math.log(10000) * xp.arange(half, dtype=np.float32) / half)
    args = t.data.astype(np.float32)[:, None] * freqs[None]
    return as_tensor(xp.concatenate([xp.sin(args), xp.cos(args)], axis=1))


def _zero_init(module):
    with no_grad():
        for p in module.parameters():
            p.zero_()
    return module


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, temb_dim, groups, dropout, adaptive_norm):
        super().__init__()
        self.adaptive_norm = adaptive_norm
        self.norm1 = nn.GroupNormSiLU(groups, in_ch)  # SiLU(GN(.)), fused for speed
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        # temb -> a shift (addition) or a (scale, shift) pair (adaptive group norm)
        self.time = nn.Linear(temb_dim, 2 * out_ch if adaptive_norm else out_ch)
        self.norm2 = nn.GroupNormSiLU(groups, out_ch)  # SiLU(GN'(.)), the time inside GN'
        self.dropout = nn.Dropout(dropout)
        self.conv2 = _zero_init(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x, temb_act):
        """x (B, in_ch, H, W); temb_act = SiLU(temb) (B, temb_dim), shared by all blocks."""
        # h = conv3x3(SiLU(GN(x)))
        h = self.conv1(self.norm1(x))
        t = self.time(temb_act)
        t = t.reshape(t.shape + (1, 1))
        if self.adaptive_norm:
            # SiLU(GN(h) (1 + scale) + shift)
            scale, shift = t.chunk(2, axis=1)
            h = self.norm2(h, scale, shift)
        else:
            # SiLU(GN(h + Linear(SiLU(temb))))
            h = self.norm2(h + t)
        # h = conv3x3(dropout(h))
        h = self.conv2(self.dropout(h))
        return (x if self.skip is None else self.skip(x)) + h


class CrossAttention(nn.Module):
    """x + MHA(GN(x), context): the HW positions of GN(x) (B, HW, C) attend to the context
    (B, L, context_dim). key_padding_mask (B, L), as nn.MultiheadAttention's: True marks a
    padding token, which no position attends to."""

    def __init__(self, channels, context_dim, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.attn = nn.MultiheadAttention(channels, 1, kdim=context_dim, vdim=context_dim)
        _zero_init(self.attn.out_proj)

    def forward(self, x, context, key_padding_mask=None):
        B, C, H, W = x.shape
        h = self.attn(self.norm(x).reshape(B, C, H * W).transpose(1, 2), context,
                      key_padding_mask=key_padding_mask)
        return x + h.transpose(1, 2).reshape(B, C, H, W)


class AttnBlock(nn.Module):
    def __init__(self, channels, groups, context_dim=None):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = _zero_init(nn.Conv2d(channels, channels, 1))
        self.cross = CrossAttention(channels, context_dim, groups) if context_dim else None

    def forward(self, x, context=None, context_key_padding_mask=None):
        B, C, H, W = x.shape
        # q, k, v = conv1x1(GN(x)), each as (B, HW, C)
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).transpose(2, 3).chunk(3, axis=1)
        # softmax(q k^T / sqrt(C)) v, back to (B, C, H, W)
        h = F.scaled_dot_product_attention(q.squeeze(1), k.squeeze(1), v.squeeze(1))
        x = x + self.proj(h.transpose(1, 2).reshape(B, C, H, W))
        return x if self.cross is None else self.cross(x, context, context_key_padding_mask)


class Downsample(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    """conv3x3(nearest x2 upsampling of x), computed by upsampled_conv3x3 (the same numbers
    up to rounding, in half the products); the plain two lines with `fast = False`."""
    fast = True

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        if not self.fast:
            return self.conv(F.interpolate(x, scale_factor=2, mode='nearest'))
        return upsampled_conv3x3(x, self.conv.weight, self.conv.bias)


def upsampled_conv3x3(x, weight, bias):
    """conv3x3 (padding 1) of x upsampled x2 by nearest neighbour, without the upsampling.

    Along one axis, output pixel 2i + a (phase a = 0 or 1) of the upsampled image u reads
    u at 2i + a - 1, 2i + a, 2i + a + 1, which are x at only two rows:
        a = 0:  x[i - 1] W[0] + x[i] (W[1] + W[2])
        a = 1:  x[i] (W[0] + W[1]) + x[i + 1] W[2]
    so each of the four phases (a, b) is a 2x2 convolution of x (padded by 1) with the
    kernel's rows and columns summed as above: the output pixel (2i + a, 2j + b) is that
    phase's pixel (i + a, j + b). One convolution with the four phase kernels stacked as
    4 C_out outputs computes them all: 16 taps on HW pixels instead of 9 on 4 HW (the
    sub-pixel view of Shi et al. 2016, arXiv:1609.05158, run backwards). The engine
    differentiates the sums, the convolution and the interleaving as it does any ops."""
    N, C, H, W = x.shape
    C_out, w = weight.shape[0], weight
    by_rows = _phase_taps(w[:, :, 0], w[:, :, 1], w[:, :, 2], axis=2)  # a = 0, 1
    kernels = [k_ab for k in by_rows  # (a, b) = 00, 01, 10, 11
               for k_ab in _phase_taps(k[..., 0], k[..., 1], k[..., 2], axis=3)]
    out = F.conv2d(x, cat(kernels, axis=0), None if bias is None else cat([bias] * 4), padding=1)
    phase = [out[:, p * C_out:(p + 1) * C_out, a:a + H, b:b + W]
             for p, (a, b) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)])]
    rows = [stack(phase[2 * a:2 * a + 2], axis=-1) for a in (0, 1)]   # (N, C_out, H, W, b)
    return stack(rows, axis=3).reshape(N, C_out, 2 * H, 2 * W)       # (N, C_out, H, a, W, b)


def _phase_taps(w0, w1, w2, axis):
    """A 3-tap kernel's two 2-tap kernels along `axis`: (W0, W1 + W2) for phase 0 and
    (W0 + W1, W2) for phase 1 (upsampled_conv3x3's docstring)."""
    return [stack([w0, w1 + w2], axis=axis), stack([w0 + w1, w2], axis=axis)]


class UNet(nn.Module):
    """eps_theta(x_t, t [, y] [, context]) -> a tensor of x_t's shape.

    in_channels, resolution: the images (square, side divisible by 2^(levels-1));
    base_channels, channel_mults, num_res_blocks: widths and depth per level;
    attention_resolutions: the sides H at which AttnBlocks are inserted;
    groups: GroupNorm groups; dropout: in every ResBlock;
    time_injection: how each ResBlock reads the time (and class) embedding temb:
        'add'    (default; Ho et al.)  SiLU(GN(h + Linear(SiLU(temb))))
        'adagn'  adaptive group norm (Dhariwal & Nichol 2021)  SiLU(GN(h) (1 + scale) + shift),
                 (scale, shift) = Linear(SiLU(temb)); C_out * (4 base + 1) more weights a block;
    num_classes: class-conditional with labels y in [0, num_classes), plus `null_class`;
    context_dim: cross-attention to a context (B, L, context_dim) in every AttnBlock;
    pooled_dim: a pooled context vector (B, pooled_dim), e.g. a caption's end-of-text
        state, is projected and added to temb, so every ResBlock reads it, as Imagen adds
        its pooled text embedding to the timestep embedding (Saharia et al. 2022,
        arXiv:2205.11487, section 2.1 and appendix; SDXL does the same, Podell et al.
        2023, arXiv:2307.01952): temb = time_mlp(emb(t)) + Linear(pooled).
    """

    def __init__(self, in_channels=1, resolution=32, base_channels=32, channel_mults=(1, 2, 2),
                 num_res_blocks=1, attention_resolutions=(8,), groups=8, dropout=0.0,
                 time_injection='add', num_classes=None, context_dim=None, pooled_dim=None):
        super().__init__()
        if time_injection not in ('add', 'adagn'):
            raise ValueError(f"UNet: time_injection must be 'add' or 'adagn', "
                             f"got {time_injection!r}")
        if resolution % 2 ** (len(channel_mults) - 1):
            raise ValueError(f"UNet: resolution {resolution} must be divisible by "
                             f"2^{len(channel_mults) - 1} for channel_mults {channel_mults}")
        self.in_channels, self.resolution, self.base_channels = (in_channels, resolution,
                                                                 base_channels)
        self.num_classes, self.context_dim, self.pooled_dim = num_classes, context_dim, pooled_dim
        temb_dim = 4 * base_channels
        block = dict(temb_dim=temb_dim, groups=groups, dropout=dropout,
                     adaptive_norm=time_injection == 'adagn')
        # temb = Linear(SiLU(Linear(emb(t))))
        self.time_mlp = nn.Sequential(nn.Linear(base_channels, temb_dim), nn.SiLU(),
                                      nn.Linear(temb_dim, temb_dim))
        if num_classes is not None:
            self.class_emb = nn.Embedding(num_classes + 1, temb_dim)  # row num_classes: null
        if pooled_dim is not None:
            self.pooled_proj = nn.Linear(pooled_dim, temb_dim)
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)

        self.down = nn.ModuleList()
        skips, ch, res = [base_channels], base_channels, resolution
        for level, mult in enumerate(channel_mults):
            for _ in range(num_res_blocks):
                self.down.append(ResBlock(ch, base_channels * mult, **block))
                ch = base_channels * mult
                if res in attention_resolutions:
                    self.down.append(AttnBlock(ch, groups, context_dim))
                skips.append(ch)
            if level != len(channel_mults) - 1:
                self.down.append(Downsample(ch))
                res //= 2
                skips.append(ch)

        self.mid = nn.ModuleList([ResBlock(ch, ch, **block), AttnBlock(ch, groups, context_dim),
                                  ResBlock(ch, ch, **block)])

        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mults))):
            for _ in range(num_res_blocks + 1):
                self.up.append(ResBlock(ch + skips.pop(), base_channels * mult, **block))
                ch = base_channels * mult
                if res in attention_resolutions:
                    self.up.append(AttnBlock(ch, groups, context_dim))
            if level != 0:
                self.up.append(Upsample(ch))
                res *= 2

        self.norm_out = nn.GroupNormSiLU(groups, ch)
        self.conv_out = _zero_init(nn.Conv2d(ch, in_channels, 3, padding=1))

    @property
    def null_class(self):
        """The label meaning "no class" (classifier-free guidance)."""
        return self.num_classes

    def forward(self, x, t, y=None, context=None, context_key_padding_mask=None, pooled=None,
                down_residuals=None, mid_residual=None):
        """x (B, C, H, W); t (B,) integer timesteps; y (B,) labels (None: the null class);
        context (B, L, context_dim), for cross-attention, e.g. per-token text states;
        context_key_padding_mask (B, L) boolean, True at padding tokens (ignored), as
        nn.MultiheadAttention's key_padding_mask (e.g. ids == pad id); pooled (B, pooled_dim),
        added to temb through a Linear (needed when the UNet was built with pooled_dim).
        down_residuals (one per skip, in push order) and mid_residual: a ControlNet's outputs
        (controlnet.py), added to the skips and to the middle block's output (Zhang et al.
        2023, arXiv:2302.05543, eq. 2); both or neither."""
        self._check_inputs(x, t, y, context, context_key_padding_mask, pooled)
        mask = context_key_padding_mask
        temb_act = self.embed(t, y, pooled, x.dtype)
        h, skips = self.encode(self.conv_in(x), temb_act, context, mask)
        if (down_residuals is None) != (mid_residual is None):
            raise ValueError("UNet: give both down_residuals and mid_residual (a ControlNet's "
                             "outputs) or neither")
        if down_residuals is not None:
            if len(down_residuals) != len(skips):
                raise ValueError(f"UNet: down_residuals must hold one tensor per skip "
                                 f"({len(skips)}), got {len(down_residuals)}")
            skips = [s + r for s, r in zip(skips, down_residuals)]
            h = h + mid_residual
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(cat([h, skips.pop()], axis=1), temb_act)
            elif isinstance(layer, AttnBlock):
                h = layer(h, context, mask)
            else:
                h = layer(h)
        return self.conv_out(self.norm_out(h))  # SiLU(GN(h)), then the output conv

    def embed(self, t, y=None, pooled=None, dtype=np.float32):
        """SiLU(temb), the time (+ class, + pooled context) embedding every ResBlock reads."""
        temb = self.time_mlp(timestep_embedding(t, self.base_channels).astype(dtype))
        if self.num_classes is not None:
            if y is None:
                y = as_tensor(backend.array_module(t.data).full(t.shape[0], self.null_class))
            temb = temb + self.class_emb(y)
        if self.pooled_dim is not None:
            temb = temb + self.pooled_proj(pooled)  # Imagen: pooled text added to temb
        return F.silu(temb)

    def encode(self, h, temb_act, context=None, mask=None):
        """The encoder: the down blocks and the middle block from h = conv_in(x).
        Returns (the middle block's output, the skips [conv_in(x), ...] in push order)."""
        skips = [h]
        for layer in self.down:
            if isinstance(layer, ResBlock):
                h = layer(h, temb_act)
                skips.append(h)
            elif isinstance(layer, AttnBlock):
                h = layer(h, context, mask)
                skips[-1] = h  # the skip is the attention's output
            else:
                h = layer(h)
                skips.append(h)
        for layer in self.mid:
            if isinstance(layer, ResBlock):
                h = layer(h, temb_act)
            else:
                h = layer(h, context, mask)
        return h, skips

    def _check_inputs(self, x, t, y, context, mask, pooled=None):
        want = (self.in_channels, self.resolution, self.resolution)
        if x.ndim != 4 or x.shape[1:] != want:
            raise ValueError(f"UNet: x must have shape (B, {want[0]}, {want[1]}, {want[2]}), "
                             f"got {x.shape}")
        if t.ndim != 1 or t.shape[0] != x.shape[0] or t.dtype.kind not in 'iu':
            raise ValueError(f"UNet: t must be {x.shape[0]} integer timesteps (shape "
                             f"({x.shape[0]},)), got {t.dtype} of shape {t.shape}")
        if y is not None and self.num_classes is None:
            raise ValueError("UNet: labels y were given but the model has num_classes=None")
        if y is not None and (y.shape != (x.shape[0],) or int(y.data.min()) < 0
                              or int(y.data.max()) > self.num_classes):
            raise ValueError(f"UNet: y must be {x.shape[0]} labels in [0, {self.num_classes}] "
                             f"({self.num_classes} = null), got shape {y.shape}")
        if (context is None) != (self.context_dim is None):
            raise ValueError(f"UNet: built with context_dim={self.context_dim} but called with "
                             f"context {None if context is None else context.shape}")
        if context is not None and (context.ndim != 3 or context.shape[0] != x.shape[0]
                                    or context.shape[2] != self.context_dim):
            raise ValueError(f"UNet: context must have shape "
                             f"({x.shape[0]}, L, {self.context_dim}), got {context.shape}")
        if (pooled is None) != (self.pooled_dim is None):
            raise ValueError(f"UNet: built with pooled_dim={self.pooled_dim} but called with "
                             f"pooled {None if pooled is None else pooled.shape}")
        if pooled is not None and tuple(pooled.shape) != (x.shape[0], self.pooled_dim):
            raise ValueError(f"UNet: pooled must have shape ({x.shape[0]}, {self.pooled_dim}), "
                             f"got {pooled.shape}")
        if mask is not None and context is None:
            raise ValueError("UNet: context_key_padding_mask was given without a context")
        if mask is not None and tuple(mask.shape) != context.shape[:2]:
            raise ValueError(f"UNet: context_key_padding_mask must have shape "
                             f"{context.shape[:2]} (B, L), True at padding tokens, "
                             f"got {tuple(mask.shape)}")

    def extra_repr(self):
        return (f"in_channels={self.in_channels}, resolution={self.resolution}, "
                f"base_channels={self.base_channels}")
