"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW).

Adam (Kingma & Ba 2014, arXiv:1412.6980, Algorithm 1), for gradient g at step t = 1, 2, ...:
    m_t = beta1 m_{t-1} + (1 - beta1) g            first moment (mean of g)
    v_t = beta2 v_{t-1} + (1 - beta2) g^2          second moment (mean of g^2)
    m_hat = m_t / (1 - beta1^t),  v_hat = v_t / (1 - beta2^t)    bias correction (m_0 = v_0 = 0)
    p <- p - lr m_hat / (sqrt(v_hat) + eps)
`adam_step` below is that update, line for line. On a GPU fused.py runs the same
arithmetic as one CUDA kernel per parameter instead (a fast path only: the lines here
are what it computes).
Weight decay lambda:
    Adam   adds it to the gradient, g <- g + lambda p (L2; it is then rescaled by 1/sqrt(v_hat))
    AdamW  decays the weight itself first, p <- p (1 - lr lambda)  (decoupled: Loshchilov &
           Hutter 2017, arXiv:1711.05101, Algorithm 2)
"""
import math

from autograd.backend import array_module

from . import fused
from .optimizer import Optimizer


def adam_step(p, g, m, v, t, lr, beta1, beta2, eps):
    """Algorithm 1's update at step t, in place in p and the moments m, v."""
    m += (1 - beta1) * (g - m)               # m_t = beta1 m + (1 - beta1) g
    v += (1 - beta2) * (g * g - v)           # v_t = beta2 v + (1 - beta2) g^2
    denom = array_module(v).sqrt(v)
    denom /= math.sqrt(1 - beta2 ** t)       # sqrt(v_hat), with v_hat = v_t / (1 - beta2^t)
    denom += eps
    p -= (lr / (1 - beta1 ** t)) * m / denom  # lr m_hat / (sqrt(v_hat) + eps)


class Adam(Optimizer):
    state_keys = ('step', 'exp_avg', 'exp_avg_sq')
    decoupled = False  # weight decay added to the gradient (Adam) or applied to p (AdamW)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        name = type(self).__name__
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"{name}: lr, eps and weight_decay must be >= 0, got lr={lr}, "
                             f"eps={eps}, weight_decay={weight_decay}")
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    def _update(self, p, g, group, state):
        lr, (beta1, beta2), eps, wd = group['lr'], group['betas'], group['eps'], group['weight_decay']
        if not state:
            xp = array_module(p)
            state.update(step=0, exp_avg=xp.zeros_like(p), exp_avg_sq=xp.zeros_like(p))
        state['step'] += 1
        t, m, v = state['step'], state['exp_avg'], state['exp_avg_sq']
        if wd and self.decoupled:
            p *= 1 - lr * wd                     # AdamW: p <- p (1 - lr lambda)
        elif wd:
            g = g + wd * p                       # Adam: g <- g + lambda p
        if not fused.adam(p, g, m, v, t, lr, beta1, beta2, eps):  # True: done on a GPU
            adam_step(p, g, m, v, t, lr, beta1, beta2, eps)


class AdamW(Adam):
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
