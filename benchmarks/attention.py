"""Benchmark `attention`: the UNet AttnBlock(128) on x of shape (32, 128, 16, 16),
float32, x.requires_grad: forward, .sum(), backward (see ../shared/BENCHMARKS.md).

AttnBlock(C), as in DDPM (Ho et al. 2020, arXiv:2006.11239):
    h = GroupNorm_8(x)                         reshaped to (B, C, HW)
    q, k, v = W_qkv h + b_qkv                   a 1x1 conv with 3C outputs (one product),
                                                split in three
    w = softmax(q^T k / sqrt(C))                over the keys, (B, HW, HW)
    out = x + W_proj (v w^T) + b_proj           another 1x1 conv
A 1x1 convolution is a matrix product over the channel axis, so both are written
as `W @ h` on (B, C, HW) directly. Attention takes (B, L, d) = (B, HW, C): the
transposes of q, k, v are views, which the matrix products read without a copy.
"""
import math

import autograd as ag
import minigen.nn.functional as F
from benchmarks import median_time

B, C, H, W, GROUPS = 32, 128, 16, 16, 8


def _uniform(shape, fan_in, device):
    """PyTorch's default init of conv weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1 / math.sqrt(fan_in)
    return ((ag.rand(*shape, device=device) * 2 - 1) * bound).requires_grad_()


def attn_block(params, x):
    gamma, beta, w_qkv, b_qkv, w_proj, b_proj = params
    h = F.group_norm(x, GROUPS, gamma, beta).reshape(B, C, H * W)
    qkv = (w_qkv @ h + b_qkv).reshape(B, 3, C, H * W)           # one product, as the reference
    q, k, v = (qkv[:, i].transpose() for i in range(3))
    a = F.scaled_dot_product_attention(q, k, v)                  # (B, HW, C)
    return x + (w_proj @ a.transpose() + b_proj).reshape(B, C, H, W)


def run(device='cpu', repeat=5):
    params = [ag.ones(C, device=device, requires_grad=True),
              ag.zeros(C, device=device, requires_grad=True),
              _uniform((3 * C, C), C, device), _uniform((3 * C, 1), C, device),
              _uniform((C, C), C, device), _uniform((C, 1), C, device)]
    x = ag.randn(B, C, H, W, device=device, requires_grad=True)

    def step():
        for t in params + [x]:
            t.grad = None
        attn_block(params, x).sum().backward()

    return median_time(step, device, repeat)
