"""One Transformer block, the unit of every Transformer in minigen (CLIP's text tower, the
image-token GPT, ViT and DINO).

Vaswani et al. 2017, "Attention Is All You Need" (arXiv:1706.03762), in the pre-norm form
GPT-2 and CLIP use (Radford et al. 2019; 2021, arXiv:2103.00020), which trains without
warm-up tricks because the residual stream is never normalised:

    x <- x + MHA(LN_1(x))                  (causal: position i attends to j <= i only)
    x <- x + W_2 act(W_1 LN_2(x) + b_1) + b_2,    W_1: d -> 4d, W_2: 4d -> d

act is GELU (Hendrycks & Gimpel 2016, arXiv:1606.08415) or CLIP's QuickGELU,
a sigmoid(1.702 a), a cheaper curve within 0.02 of it.
"""
from .module import Module
from .linear import Linear
from .norm import LayerNorm
from .attention import MultiheadAttention
from .activation import GELU


class QuickGELU(Module):
    """a sigmoid(1.702 a): CLIP's fast approximation of GELU."""

    def forward(self, x):
        return x * (1.702 * x).sigmoid()


class TransformerBlock(Module):
    """Pre-norm block on (N, L, d_model): x + MHA(LN(x)), then x + MLP(LN(x)) with a hidden
    layer `mlp_ratio` times wider. `activation` is a module (default nn.GELU())."""

    def __init__(self, d_model, n_heads, mlp_ratio=4, activation=None):
        super().__init__()
        hidden = int(mlp_ratio * d_model)
        self.ln_1 = LayerNorm(d_model)
        self.attn = MultiheadAttention(d_model, n_heads)
        self.ln_2 = LayerNorm(d_model)
        self.c_fc = Linear(d_model, hidden)
        self.act = activation if activation is not None else GELU()
        self.c_proj = Linear(hidden, d_model)

    def forward(self, x, causal=False, key_padding_mask=None):
        x = x + self.attn(self.ln_1(x), is_causal=causal, key_padding_mask=key_padding_mask)
        return x + self.c_proj(self.act(self.c_fc(self.ln_2(x))))
