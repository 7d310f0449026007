"""MultiheadAttention: self-attention and cross-attention with h heads (batch first).

"Attention Is All You Need" (Vaswani et al. 2017, arXiv:1706.03762), section 3.2.2:

    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O
    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),   Attention(q, k, v) = softmax(q k^T / sqrt(d)) v

for query x (B, L, E) and key/value (B, S, kdim) and (B, S, vdim): E = embed_dim is split
into h heads of d = E / h dimensions each. Self-attention: mha(x) (key = value = x).
Cross-attention, e.g. image features attending to a text encoding of another length and
width: mha(x, context) with kdim = vdim = the context's width.

Parameters as PyTorch's, so the counts match (4 E^2 + 4 E for self-attention):
    in_proj_weight (3E, E) holding [W^Q; W^K; W^V] when kdim = vdim = E, else
    q_proj_weight (E, E), k_proj_weight (E, kdim), v_proj_weight (E, vdim);
    in_proj_bias (3E,);  out_proj = Linear(E, E) (W^O).
Init (PyTorch's): the input projections xavier_uniform_, in_proj_bias and out_proj.bias
zero, out_proj.weight Linear's default.

Masks follow nn.MultiheadAttention (the opposite of F.scaled_dot_product_attention's
boolean convention): a boolean True means "may NOT attend"; a float mask is added to the
scores. attn_mask is (L, S) or (B * h, L, S); key_padding_mask is (B, S) (True marks
padding keys); is_causal=True hides key j from query i when j > i. A query whose keys are
all hidden gets a zero attention output (PyTorch's gives NaN). Unlike PyTorch the layer
returns only the output (no attention weights): the fused op keeps them to itself.
"""
import math

import numpy as np

import autograd
import minigen.nn.functional as F

from . import init
from .linear import Linear, linear
from .module import Module, Parameter, check_size


class MultiheadAttention(Module):
    def __init__(self, embed_dim, num_heads, bias=True, kdim=None, vdim=None, batch_first=True):
        super().__init__()
        if not batch_first:
            raise ValueError("MultiheadAttention: only batch_first=True (B, L, E) is supported")
        embed_dim = check_size('MultiheadAttention', 'embed_dim', embed_dim)
        num_heads = check_size('MultiheadAttention', 'num_heads', num_heads)
        kdim, vdim = (None if d is None else check_size('MultiheadAttention', n, d)
                      for n, d in (('kdim', kdim), ('vdim', vdim)))
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim={embed_dim} must be divisible by "
                             f"num_heads={num_heads}")
        E = embed_dim
        self.embed_dim, self.num_heads, self.head_dim = E, num_heads, E // num_heads
        self.kdim, self.vdim = kdim or E, vdim or E
        self.same_dims = self.kdim == E and self.vdim == E
        if self.same_dims:
            self.in_proj_weight = Parameter(autograd.zeros(3 * E, E))
            init.xavier_uniform_(self.in_proj_weight)
        else:
            self.q_proj_weight = Parameter(autograd.zeros(E, E))
            self.k_proj_weight = Parameter(autograd.zeros(E, self.kdim))
            self.v_proj_weight = Parameter(autograd.zeros(E, self.vdim))
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        self.in_proj_bias = Parameter(autograd.zeros(3 * E)) if bias else None
        self.out_proj = Linear(E, E, bias=bias)
        if bias:
            init.zeros_(self.out_proj.bias)

    def _projections(self, query, key, value):
        """Q W^Q + b^Q, K W^K + b^K, V W^V + b^V, each (B, length, E)."""
        E, b = self.embed_dim, self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if not self.same_dims:
            return (linear(query, self.q_proj_weight, bq), linear(key, self.k_proj_weight, bk),
                    linear(value, self.v_proj_weight, bv))
        W = self.in_proj_weight
        if key is query and value is query:  # self-attention: one product for all three
            return tuple(linear(query, W, b).chunk(3, axis=-1))
        return (linear(query, W[:E], bq), linear(key, W[E:2 * E], bk),
                linear(value, W[2 * E:], bv))

    def forward(self, query, key=None, value=None, key_padding_mask=None, attn_mask=None,
                is_causal=False):
        key = query if key is None else key
        value = key if value is None else value
        self._check_shapes(query, key, value)
        (B, L, E), S, h, d = query.shape, key.shape[1], self.num_heads, self.head_dim
        mask = self._mask(key_padding_mask, attn_mask, is_causal, B, L, S, query)
        q, k, v = (t.reshape(B, -1, h, d).transpose(1, 2)  # (B, h, length, d)
                   for t in self._projections(query, key, value))
        o = F.scaled_dot_product_attention(q, k, v, mask=mask, scale=1 / math.sqrt(d))
        return self.out_proj(o.transpose(1, 2).reshape(B, L, E))  # Concat(heads) W^O

    def _check_shapes(self, query, key, value):
        name = 'MultiheadAttention'
        if query.ndim != 3 or key.ndim != 3 or value.ndim != 3:
            raise ValueError(f"{name}: query, key and value must be (B, length, features), got "
                             f"{query.shape}, {key.shape}, {value.shape}")
        want = ((query, self.embed_dim, 'query', 'embed_dim'), (key, self.kdim, 'key', 'kdim'),
                (value, self.vdim, 'value', 'vdim'))
        for t, n, what, arg in want:
            if t.shape[-1] != n:
                raise ValueError(f"{name}: {what} {t.shape} must have {arg}={n} features")
        if not query.shape[0] == key.shape[0] == value.shape[0] or key.shape[1] != value.shape[1]:
            raise ValueError(f"{name}: batch sizes or key/value lengths differ: query "
                             f"{query.shape}, key {key.shape}, value {value.shape}")

    def _mask(self, key_padding_mask, attn_mask, is_causal, B, L, S, query):
        """All masks as one additive bias of shape broadcasting to (B, h, L, S): -inf
        where a key is hidden, or None."""
        xp = autograd.backend.array_module(query.data)
        masks = []
        if attn_mask is not None:
            m = xp.asarray(attn_mask.data if isinstance(attn_mask, autograd.Tensor) else attn_mask)
            if m.shape not in ((L, S), (B * self.num_heads, L, S)):
                raise ValueError(f"MultiheadAttention: attn_mask must be (L, S) = {(L, S)} or "
                                 f"(B * num_heads, L, S) = {(B * self.num_heads, L, S)}, got {m.shape}")
            masks.append(m.reshape(B, self.num_heads, L, S) if m.ndim == 3 else m)
        if key_padding_mask is not None:
            m = key_padding_mask
            m = xp.asarray(m.data if isinstance(m, autograd.Tensor) else m)
            if m.shape != (B, S):
                raise ValueError(f"MultiheadAttention: key_padding_mask must be (B, S) = "
                                 f"{(B, S)}, got {m.shape}")
            masks.append(m.reshape(B, 1, 1, S))
        if is_causal:
            masks.append(xp.triu(xp.ones((L, S), dtype=bool), 1))  # key j > query i
        if not masks:
            return None
        return sum(xp.where(m, -np.inf, 0).astype(query.dtype) if m.dtype == np.bool_
                   else m.astype(query.dtype) for m in masks)

    def extra_repr(self):
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if not self.same_dims:
            s += f", kdim={self.kdim}, vdim={self.vdim}"
        return s + ('' if self.in_proj_bias is not None else ', bias=False')
