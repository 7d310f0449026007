"""Gradient clipping by the global norm (torch.nn.utils.clip_grad_norm_).

With all gradients viewed as one vector g = (g_1, ..., g_n),
    ||g|| = sqrt(sum_i ||g_i||^2),     g_i <- g_i * min(1, max_norm / (||g|| + 1e-6))
so the direction is kept and only the length is capped at max_norm (Pascanu et al. 2013,
arXiv:1211.5063, Algorithm 1). The scale is computed on the device and always
applied, so a GPU run never waits for the norm.
"""
from autograd.backend import array_module
from autograd import Tensor, as_tensor


def clip_grad_norm_(parameters, max_norm):
    """Scale the gradients in place so their global norm is at most `max_norm`; return
    the norm before clipping, as a 0-d Tensor."""
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad.data for p in params if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    xp = array_module(grads[0])
    total = xp.sqrt(sum(xp.vdot(g.ravel(), g.ravel()) for g in grads))   # ||g||
    scale = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= scale
    return as_tensor(xp.asarray(total))
