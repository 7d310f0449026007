"""minigen.nn.functional: every layer as a function, the one public import path.

    import minigen.nn.functional as F

Each name is a differentiable op of the autograd engine (most are one fused
Function with a hand-written backward); this module gathers them under
PyTorch's names. Where each one is implemented:

    activations   relu, leaky_relu, silu, gelu, tanh, sigmoid, softplus
                                              autograd/ops/elementwise.py
    softmax       softmax, log_softmax        autograd/ops/softmax.py
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
"""
from autograd.backend import array_module, rng
from autograd.ops.elementwise import (relu, leaky_relu, silu, gelu, tanh, sigmoid,  # noqa: F401
                                      softplus)
from autograd.ops.softmax import softmax, log_softmax  # noqa: F401
from autograd.ops.norm import group_norm, group_norm_silu, layer_norm, batch_norm  # noqa: F401
from autograd.ops.attention import scaled_dot_product_attention  # noqa: F401
from autograd.ops.shape import pad, embedding  # noqa: F401
from autograd import as_tensor
from .losses import (mse_loss, l1_loss, cross_entropy, binary_cross_entropy_with_logits,  # noqa
                     kl_div, gaussian_kl)

__all__ = ['relu', 'leaky_relu', 'silu', 'gelu', 'tanh', 'sigmoid', 'softplus', 'softmax',
           'log_softmax', 'dropout', 'group_norm', 'group_norm_silu', 'layer_norm', 'batch_norm',
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


from autograd.ops.conv import conv2d, conv_transpose2d  # noqa: E402, F401
from autograd.ops.pool import max_pool2d, avg_pool2d, interpolate  # noqa: E402, F401
