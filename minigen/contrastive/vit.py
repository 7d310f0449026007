"""ViT: the Vision Transformer, an image read as a sentence of patches.

Dosovitskiy et al. 2020, "An Image is Worth 16x16 Words: Transformers for Image Recognition
at Scale" (arXiv:2010.11929), Sec. 3.1, eqs. 1-4, at the size of 28x28 and 32x32 images.
An image x (C, H, W) is cut into L = (H / P)(W / P) patches of P x P pixels, each flattened
and mapped linearly to the width D; a learned class token x_class is put in front and a
learned position embedding E_pos is added:

    z_0 = [x_class; x_p^1 E; x_p^2 E; ...; x_p^L E] + E_pos,    E: (P^2 C) x D,  E_pos: (L + 1) x D
    z_l = z_{l-1} + MSA(LN(z_{l-1})),   z_l = z_l + MLP(LN(z_l)),     l = 1 ... depth
    y   = LN(z_depth^0)                                               (the class token)

"Flatten each patch, multiply by E" is a convolution of kernel P and stride P (the
patches do not overlap), which is how it is computed: Conv2d(C, D, P, stride=P). The
blocks are minigen.nn.TransformerBlock, the pre-norm block of CLIP's text tower, with
QuickGELU, a sigmoid(1.702 a), as CLIP's ViTs (tanh-form GELU took 40% of a training step
here); the output y is the image's feature vector (feature_dim = D).
`forward_features(x)` returns every token after the final LayerNorm, for readers that
pool the patches instead (their mean is the usual alternative to the class token).

Other image sizes (DINO's small local crops) keep the patch size and get fewer patches;
the patch positions E_pos^{1..L}, a (H/P) x (W/P) grid of vectors, are resized to the new
grid bilinearly (DINO's `interpolate_pos_encoding` resizes bicubically).

Init as DINO's `vision_transformer.py` (trunc_normal_(std=.02) there, a plain normal here):
x_class, E_pos and every Linear weight N(0, 0.02^2), biases 0.

`class_attention(x)` gives what the last block's heads read for the class token: the
attention weights softmax(q_class k_j^T / sqrt(d)) over the patches j, per head, as
(N, heads, H/P, W/P) maps (DINO, Caron et al. 2021, arXiv:2104.14294, Fig. 1 and 3).
"""
import math

import autograd
import minigen.nn as nn
import minigen.nn.functional as F
from minigen.nn import init
from minigen.nn.module import check_size


class ViT(nn.Module):
    """Images (N, C, H, W) with H and W multiples of `patch_size` -> class-token features
    (N, width). `image_size` fixes the learned position grid (H = W = image_size)."""

    def __init__(self, in_channels=3, image_size=32, patch_size=4, width=64, depth=4, heads=4,
                 mlp_ratio=4):
        super().__init__()
        for name, value in (('in_channels', in_channels), ('image_size', image_size),
                            ('patch_size', patch_size), ('width', width), ('depth', depth)):
            check_size('ViT', name, value)
        if image_size % patch_size:
            raise ValueError(f"ViT: image_size={image_size} is not a multiple of "
                             f"patch_size={patch_size}")
        self.in_channels, self.patch_size, self.heads = in_channels, patch_size, heads
        self.grid = image_size // patch_size
        self.feature_dim = width
        # eq. 1: x_p E as a convolution of kernel P, stride P
        self.patch_embed = nn.Conv2d(in_channels, width, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(autograd.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(autograd.zeros(1, 1 + self.grid ** 2, width))
        self.blocks = nn.ModuleList([nn.TransformerBlock(width, heads, mlp_ratio,
                                                         activation=nn.QuickGELU())
                                     for _ in range(depth)])
        self.norm = nn.LayerNorm(width)
        init.normal_(self.cls_token, std=0.02)
        init.normal_(self.pos_embed, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    init.zeros_(module.bias)

    def patch_positions(self, gh, gw):
        """E_pos^{1..L} on a gh x gw grid (1, gh gw, D): the learned grid, resized bilinearly
        when the image is not image_size (a Tensor op: the gradient reaches E_pos)."""
        pos = self.pos_embed[:, 1:]
        if (gh, gw) == (self.grid, self.grid):
            return pos
        d = pos.shape[-1]
        grid = pos.reshape(1, self.grid, self.grid, d).permute(0, 3, 1, 2)   # (1, D, g, g)
        grid = F.interpolate(grid, size=(gh, gw), mode='bilinear')
        return grid.permute(0, 2, 3, 1).reshape(1, gh * gw, d)

    def tokens(self, x):
        """z_0 (N, 1 + L, D): the class token, then the embedded patches row by row, plus
        their positions (eq. 1)."""
        p = self.patch_size
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % p or x.shape[3] % p:
            raise ValueError(f"ViT: expected images (N, {self.in_channels}, H, W) with H and W "
                             f"multiples of the patch size {p}, got {x.shape}")
        n, gh, gw = x.shape[0], x.shape[2] // p, x.shape[3] // p
        patches = self.patch_embed(x).reshape(n, -1, gh * gw).transpose(1, 2)   # (N, L, D)
        patches = patches + self.patch_positions(gh, gw)
        cls = (self.cls_token + self.pos_embed[:, :1]).broadcast_to((n, 1, patches.shape[-1]))
        return autograd.cat([cls, patches], axis=1)

    def forward_features(self, x):
        """LN(z_depth) (N, 1 + L, D): every token after the last block and the final
        LayerNorm, the class token first."""
        z = self.tokens(x)
        for block in self.blocks:                       # eqs. 2-3
            z = block(z)
        return self.norm(z)

    def forward(self, x):
        return self.forward_features(x)[:, 0]           # eq. 4: y = LN(z_depth^0)

    def class_attention(self, x):
        """The last block's attention weights from the class token to every patch:
        (N, heads, H/P, W/P), each head's map summing with the class token's weight on
        itself to 1. Computed without gradient, from the block's own projections."""
        attn, (gh, gw) = self.blocks[-1].attn, (x.shape[2] // self.patch_size,
                                                x.shape[3] // self.patch_size)
        with autograd.no_grad():
            z = self.tokens(x)
            for block in self.blocks[:-1]:
                z = block(z)
            h = self.blocks[-1].ln_1(z)
            q, k, _ = attn._projections(h, h, h)
            n, length, d = q.shape[0], q.shape[1], attn.head_dim
            q = q[:, :1].reshape(n, 1, self.heads, d).transpose(1, 2)        # (N, h, 1, d)
            k = k.reshape(n, length, self.heads, d).transpose(1, 2)          # (N, h, 1+L, d)
            weights = (q @ k.transpose(-2, -1) / math.sqrt(d)).softmax(-1)   # (N, h, 1, 1+L)
        return weights[:, :, 0, 1:].reshape(n, self.heads, gh, gw)

