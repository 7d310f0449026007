"""minigen.nn.functional: every layer as a function, the one public import path.

    import minigen.nn.functional as F

Each name is a differentiable op of the autograd engine (most are one fused
Function with a hand-written backward); this module gathers them under
PyTorch's names. Where each one is implemented:

    activations   relu, leaky_relu, silu, gelu, tanh, sigmoid, softplus
                                              autograd/ops/elementwise.py
    softmax       softmax, log_softmax        autograd/ops/softmax.py
                  gumbel_softmax              here (below)
    dropout       dropout                     here (below)
    normalization group_norm, layer_norm, batch_norm,
                  group_norm_silu (silu(group_norm(x)) as one op; nn.GroupNormSiLU)
                                              autograd/ops/norm.py
    attention     scaled_dot_product_attention
                                              autograd/ops/attention.py
    losses        mse_loss, l1_loss, cross_entropy,
                  binary_cross_entropy_with_logits, kl_div, gaussian_kl
                                              minigen/nn/losses.py
    shape         pad, embedding              autograd/ops/shape.py
    convolution   conv2d, conv_transpose2d    autograd/ops/conv.py
    pooling       max_pool2d, avg_pool2d, interpolate
                                              autograd/ops/pool.py

Arguments come in PyTorch's order, so a call written for torch.nn.functional means the
same here: `pad` and `interpolate` are defined below with PyTorch's signatures over the
engine's ops (F.interpolate(x, (4, 4)) resizes to 4x4; F.pad(x, p, 'reflect') names a
mode), and cross_entropy's third argument is `weight` (losses.py). Where PyTorch has
deprecated arguments in between (size_average, reduce), what follows is keyword-only.
"""
from autograd.backend import array_module, rng
from autograd.ops.elementwise import (relu, leaky_relu, silu, gelu, tanh, sigmoid,  # noqa: F401
                                      softplus)
from autograd.ops.softmax import softmax, log_softmax  # noqa: F401
from autograd.ops.norm import group_norm, group_norm_silu, layer_norm, batch_norm  # noqa: F401
from autograd.ops.attention import scaled_dot_product_attention  # noqa: F401
from autograd.ops.shape import embedding  # noqa: F401
from autograd.ops import shape as _shape
from autograd import as_tensor
from .losses import (mse_loss, l1_loss, cross_entropy, binary_cross_entropy_with_logits,  # noqa
                     kl_div, gaussian_kl)

__all__ = ['relu', 'leaky_relu', 'silu', 'gelu', 'tanh', 'sigmoid', 'softplus', 'softmax',
           'log_softmax', 'gumbel_softmax', 'dropout', 'group_norm', 'group_norm_silu',
           'layer_norm', 'batch_norm',
           'scaled_dot_product_attention', 'mse_loss', 'l1_loss', 'cross_entropy',
           'binary_cross_entropy_with_logits', 'kl_div', 'gaussian_kl', 'pad', 'embedding',
           'conv2d', 'conv_transpose2d', 'max_pool2d', 'avg_pool2d', 'interpolate']


def dropout(x, p=0.5, training=True):
    """Inverted dropout (Srivastava et al. 2014, JMLR 15:1929): while training, each
    element is zeroed with probability p and the survivors are scaled by 1/(1 - p),
        y = x * m / (1 - p),   m_i ~ Bernoulli(1 - p),
    so E[y] = x and nothing changes at eval time (identity). The mask comes from the
    device's seeded generator (autograd.manual_seed). dy/dx = m / (1 - p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    xp = array_module(x.data)
    if p == 1:
        return x * as_tensor(xp.zeros((), x.dtype))
    u = rng(x.device).random(x.shape, dtype=x.dtype)
    return x * as_tensor((u >= p) * xp.asarray(1 / (1 - p), dtype=x.dtype))


def gumbel_softmax(logits, tau=1.0, hard=False, *, dim=-1):
    """A differentiable draw from the categorical distribution softmax(logits) (Jang, Gu &
    Poole 2016, arXiv:1611.01144; Maddison, Mnih & Teh 2016, arXiv:1611.00712):

        y = softmax((logits + g) / tau),   g = -log(-log u),  u ~ U(0, 1)  (Gumbel(0, 1) noise)

    argmax(logits + g) is an exact draw of the category (the Gumbel-max trick); the softmax
    relaxes it, to a one-hot vector as tau -> 0 and to uniform as tau -> inf. dy/dlogits is
    the softmax's: (1/tau) y * (g_up - sum(g_up * y)). hard=True returns the one-hot of the
    argmax in the forward and the soft y's gradient in the backward (straight-through:
    y_hard - sg(y) + y). The noise comes from the device's seeded generator. PyTorch's
    deprecated `eps` is not taken, so `dim` is keyword-only."""
    if not tau > 0:
        raise ValueError(f"gumbel_softmax: tau must be positive, got {tau}")
    xp = array_module(logits.data)
    tiny = xp.finfo(logits.dtype).tiny
    u = rng(logits.device).random(logits.shape, dtype=logits.dtype)
    g = -xp.log(-xp.log(xp.clip(u, tiny, 1.0)) + tiny)               # Gumbel(0, 1)
    y = softmax((logits + as_tensor(g)) / tau, axis=dim)
    if not hard:
        return y
    axis = dim % logits.ndim
    k = xp.expand_dims(y.data.argmax(axis), axis)
    one_hot = (xp.arange(logits.shape[axis]).reshape(
        (-1,) + (1,) * (logits.ndim - axis - 1)) == k).astype(logits.dtype)
    return as_tensor(one_hot - y.data) + y                              # y_hard - sg(y) + y


from autograd.ops.conv import conv2d, conv_transpose2d  # noqa: E402, F401
from autograd.ops import pool as _pool  # noqa: E402
from autograd.ops.pool import max_pool2d, avg_pool2d  # noqa: E402, F401

PAD_MODES = ('constant', 'reflect', 'replicate', 'circular')  # torch.nn.functional.pad's


def pad(input, pad, mode='constant', value=None):
    """torch.nn.functional.pad: `pad` lists (before, after) pairs from the last axis
    backward; mode 'constant' fills with `value` (default 0). PyTorch's other modes
    ('reflect', 'replicate', 'circular') raise NotImplementedError rather than pad with
    something else."""
    if not isinstance(mode, str) or mode not in PAD_MODES:
        raise ValueError(f"pad: mode must be one of {PAD_MODES}, got {mode!r} (the fill "
                         f"value is the fourth argument, or value=)")
    if mode != 'constant':
        raise NotImplementedError(f"pad: mode {mode!r} is not implemented in minigen; only "
                                  f"'constant' is")
    return _shape.pad(input, pad, value=0.0 if value is None else value)


def interpolate(input, size=None, scale_factor=None, mode='nearest', align_corners=False):
    """torch.nn.functional.interpolate: resize images (N, C, H, W) to `size` (an int or
    (H, W)) or by `scale_factor`, mode 'nearest' or 'bilinear' (autograd/ops/pool.py)."""
    return _pool.interpolate(input, scale_factor=scale_factor, size=size, mode=mode,
                             align_corners=align_corners)
