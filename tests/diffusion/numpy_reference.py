"""Plain NumPy versions of the diffusion networks' pieces, the references the UNet and
first-stage tests check their forward passes against (not a test file: no tests here)."""
import numpy as np

from autograd import no_grad


def randomize(module, seed=0, scale=0.3):
    """Non-zero values everywhere (the zero-initialised convs would hide their inputs)."""
    rng = np.random.default_rng(seed)
    with no_grad():
        for p in module.parameters():
            p.copy_(rng.standard_normal(p.shape) * scale)
    return module


def group_norm(x, groups, w, b, eps=1e-5):
    B = x.shape[0]
    xg = x.reshape(B, groups, -1)
    xg = (xg - xg.mean(-1, keepdims=True)) / np.sqrt(xg.var(-1, keepdims=True) + eps)
    return xg.reshape(x.shape) * w[:, None, None] + b[:, None, None]


def conv_same(x, w, b):
    """'same' convolution for a 1x1 or 3x3 kernel, as a sum over the kernel's shifts."""
    k = w.shape[-1]
    xp = np.pad(x, ((0, 0), (0, 0), (k // 2, k // 2), (k // 2, k // 2)))
    H, W = x.shape[2:]
    out = sum(np.einsum('oc,bchw->bohw', w[:, :, i, j], xp[:, :, i:i + H, j:j + W])
              for i in range(k) for j in range(k))
    return out + b[None, :, None, None]


def silu(x):
    return x / (1 + np.exp(-x))
