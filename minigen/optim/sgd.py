"""Stochastic gradient descent with momentum (torch.optim.SGD, dampening 0).

For a parameter p with gradient g at step t, learning rate lr, momentum mu and weight
decay lambda:
    g <- g + lambda p                              (L2 weight decay)
    b_t = g                    at the first step,  b_t = mu b_{t-1} + g   after
    p <- p - lr b_t                                (heavy ball, Polyak 1964)
    p <- p - lr (g + mu b_t)                       (nesterov=True: Sutskever et al. 2013,
                                                    ICML, eq. 3 rewritten for p)
"""
from .optimizer import Optimizer


class SGD(Optimizer):
    state_keys = ('momentum_buffer',)

    def __init__(self, params, lr=1e-3, momentum=0.0, weight_decay=0.0, nesterov=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got lr={lr}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _update(self, p, g, group, state):
        lr, mu, wd = group['lr'], group['momentum'], group['weight_decay']
        if wd:
            g = g + wd * p
        if mu:
            b = state.get('momentum_buffer')
            if b is None:
                b = state['momentum_buffer'] = g.copy()    # b_1 = g
            else:
                b *= mu
                b += g                                      # b_t = mu b_{t-1} + g
            g = g + mu * b if group['nesterov'] else b
        p -= lr * g
