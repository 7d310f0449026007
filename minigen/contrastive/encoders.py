"""Encoders for contrastive learning: a small ResNet for images, a small Transformer for
text, and the projection heads that map their features into a shared embedding space.

Image tower: a ResNet (He, Zhang, Ren and Sun 2015, arXiv:1512.03385) cut to the size of
the 28x28 and 32x32 images here. A basic residual block computes

    y = relu(x W_s + F(x)),    F(x) = norm(conv3x3(relu(norm(conv3x3(x)))))

where the shortcut W_s is the identity, or a 1x1 convolution (with stride 2) when the
block changes the width or halves the resolution. The network is a 3x3 stem, one
stage of `blocks` residual blocks per entry of `widths` (every stage after the first
halves the resolution), and a global average pool: h = mean_{u,v} x[:, :, u, v].
GroupNorm stands in for BatchNorm so that no statistic crosses the batch (SimCLR had to
synchronise BatchNorm across devices because a per-device one lets the positives be
told apart by their batch statistics, Sec. 2.2 of Chen et al. 2020).

Text tower: the Transformer of Vaswani et al. 2017 (arXiv:1706.03762) as CLIP uses it
(Radford et al. 2021, arXiv:2103.00020, Sec. 2.4): token and learned position
embeddings, then `layers` pre-norm blocks

    x <- x + MHA(LN(x))              (causal: position i sees only j <= i)
    x <- x + MLP(LN(x)),   MLP(x) = QuickGELU(x W_1) W_2,  QuickGELU(a) = a sigmoid(1.702 a)

a final LN, and the features at the end-of-text token: h = LN(x)[n, eot_n], projected by
a matrix W_text. `token_states` returns every token's LN(x) (N, L, width) with the
padding mask (True = padding): the sequence tau_theta(y) a latent diffusion model
cross-attends to (Rombach et al. 2022, arXiv:2112.10752, Sec. 3.3).
Init as CLIP's `clip/model.py`: token embeddings N(0, 0.02^2), positions N(0, 0.01^2),
attention in-projection std w^-1/2, out-projection and W_2 std w^-1/2 (2L)^-1/2,
W_1 std (2w)^-1/2, W_text std w^-1/2.

With causal attention the end token has read the whole text and no pad after it, so
padding needs no mask; full (bidirectional) attention hides the pad tokens as keys.

Projection heads: SimCLR's g(h) = W_2 relu(W_1 h) (Sec. 2.1), or one linear map (CLIP).
`l2_normalize(x) = x / max(||x||, eps)` puts embeddings on the unit sphere.
"""

import numpy as np

import autograd
import minigen.nn as nn
from minigen.nn import init


def l2_normalize(x, axis=-1, eps=1e-12):
    """x / max(||x||_2, eps) along `axis` (a Tensor op: gradients flow through)."""
    return x / (x * x).sum(axis=axis, keepdims=True).sqrt().clip(min=eps)


class BasicBlock(nn.Module):
    """y = relu(shortcut(x) + norm(conv(relu(norm(conv(x)))))), the ResNet basic block."""

    def __init__(self, in_channels, out_channels, stride=1, groups=8):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(min(groups, out_channels), out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(min(groups, out_channels), out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.GroupNorm(min(groups, out_channels), out_channels))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        h = self.norm1(self.conv1(x)).relu()
        return (self.shortcut(x) + self.norm2(self.conv2(h))).relu()


class ResNetEncoder(nn.Module):
    """A small ResNet: images (N, C, H, W) -> features h (N, widths[-1]) after global
    average pooling. `stem_stride=2` halves the resolution at once (4x cheaper)."""

    def __init__(self, in_channels=3, widths=(32, 64, 128), blocks=1, stem_stride=1, groups=8):
        super().__init__()
        self.in_channels, self.feature_dim = in_channels, widths[-1]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stride=stem_stride, padding=1, bias=False),
            nn.GroupNorm(min(groups, widths[0]), widths[0]), nn.ReLU())
        layers, c = [], widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(BasicBlock(c, w, stride=2 if (i > 0 and b == 0) else 1,
                                         groups=groups))
                c = w
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"encoders.ResNetEncoder: expected images of shape (N, "
                             f"{self.in_channels}, H, W), got {x.shape}")
        h = self.layers(self.stem(x))
        return h.mean(axis=(2, 3))  # global average pool


class ProjectionHead(nn.Module):
    """SimCLR's g(h) = W_2 relu(W_1 h) (hidden=None: one linear map W h, no bias)."""

    def __init__(self, in_dim, out_dim=128, hidden=None):
        super().__init__()
        if hidden:
            self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, out_dim))
        else:
            self.net = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, h):
        return self.net(h)


class TextTransformer(nn.Module):
    """Token ids (N, L) -> text features (N, out_dim): the end-of-text token's final
    features, projected to `out_dim` (None: no projection, features of size `width`).
    `eot_token=None` takes the position of the largest id (CLIP's vocabulary puts <eot>
    last); otherwise the first position holding `eot_token`."""

    def __init__(self, vocab_size, context_length, width=64, layers=2, heads=4, out_dim=None,
                 causal=True, eot_token=None, pad_token=0):
        super().__init__()
        self.vocab_size, self.context_length, self.width = vocab_size, context_length, width
        self.causal, self.eot_token, self.pad_token = causal, eot_token, pad_token
        self.feature_dim = out_dim or width
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(autograd.zeros(context_length, width))
        self.blocks = nn.ModuleList([nn.TransformerBlock(width, heads, activation=nn.QuickGELU()) for _ in range(layers)])
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = None
        if out_dim:  # CLIP keeps this matrix in the joint model (clip.CLIP.text_projection)
            self.text_projection = nn.Parameter(autograd.zeros(width, out_dim))
            init.normal_(self.text_projection, std=width ** -0.5)
        # CLIP's initialisation (clip/model.py: CLIP.initialize_parameters)
        init.normal_(self.token_embedding.weight, std=0.02)
        init.normal_(self.positional_embedding, std=0.01)
        attn_std, fc_std = width ** -0.5, (2 * width) ** -0.5
        proj_std = width ** -0.5 * (2 * layers) ** -0.5     # residual branches: 2 per layer
        for block in self.blocks:
            init.normal_(block.attn.in_proj_weight, std=attn_std)
            init.normal_(block.attn.out_proj.weight, std=proj_std)
            init.normal_(block.c_fc.weight, std=fc_std)
            init.normal_(block.c_proj.weight, std=proj_std)

    def eot_positions(self, ids):
        """Where each text's features are read: (N,) positions of the end token."""
        ids = np.asarray(ids)
        if self.eot_token is None:
            return ids.argmax(-1)
        hit = ids == self.eot_token
        if not hit.any(-1).all():
            raise ValueError(f"encoders.TextTransformer: a text has no end token "
                             f"{self.eot_token}")
        return hit.argmax(-1)

    def _ids(self, ids, op):
        """ids (Tensor or array) -> NumPy int ids (N, context_length), or a clear error."""
        raw = ids.data if isinstance(ids, autograd.Tensor) else ids
        ids_np = raw.get() if hasattr(raw, 'get') else np.asarray(raw)  # CuPy -> NumPy
        if ids_np.ndim != 2 or ids_np.shape[1] != self.context_length or \
                ids_np.dtype.kind not in 'iu':
            raise ValueError(f"encoders.TextTransformer{op}: expected integer ids of shape (N, "
                             f"{self.context_length}), got {ids_np.dtype} {ids_np.shape}")
        return ids_np

    def _states(self, ids_np):
        """LN(x) (N, L, width) after the blocks: every token's final features."""
        device = self.positional_embedding.device
        xp = autograd.backend.array_module(self.positional_embedding.data)
        x = self.token_embedding(autograd.tensor(ids_np, device=device)) \
            + self.positional_embedding                               # (N, L, width)
        pad_mask = None if self.causal else xp.asarray(ids_np == self.pad_token)
        for block in self.blocks:
            x = block(x, causal=self.causal, key_padding_mask=pad_mask)
        return self.ln_final(x)

    def token_states(self, ids):
        """Token ids (N, L) -> (states, padding_mask): states = LN(x) (N, L, width), the
        final features of every token (not projected), and padding_mask (N, L), a boolean
        Tensor, True where ids == pad_token (PyTorch's key_padding_mask convention).

        The per-token sequence a latent diffusion model cross-attends to (Rombach et al.
        2022, arXiv:2112.10752, Sec. 3.3: tau_theta(y) in R^{M x d_tau}); with causal
        attention the states of the real tokens never read the pads after them."""
        ids_np = self._ids(ids, '.token_states')
        padding_mask = autograd.tensor(ids_np == self.pad_token,
                                       device=self.positional_embedding.device)
        return self._states(ids_np), padding_mask

    def forward(self, ids):
        ids_np = self._ids(ids, '')
        xp = autograd.backend.array_module(self.positional_embedding.data)
        x = self._states(ids_np)
        rows, eot = xp.arange(len(ids_np)), xp.asarray(self.eot_positions(ids_np))
        h = x[rows, eot]                                              # (N, width) at <eot>
        return h if self.text_projection is None else h @ self.text_projection
