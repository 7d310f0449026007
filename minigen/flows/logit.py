"""The logit transform: pixel values in [0, 1] mapped onto the whole real line, where a
Gaussian prior and affine couplings can model them, with the log-det this costs.

Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP" (arXiv:1605.08803),
sec. 4.1: "we model the density of logit(alpha + (1 - alpha) x)" to keep away from the
boundaries 0 and 1, where logit is infinite; here, symmetrically,

    p = alpha + (1 - 2 alpha) y,     z = logit(p) = log p - log(1 - p)

so that y in [0, 1] lands in [logit(alpha), logit(1 - alpha)]. Elementwise, with
dp/dy = 1 - 2 alpha and d logit(p)/dp = 1 / (p (1 - p)),

    log |det dz/dy| = sum_i [log(1 - 2 alpha) - log p_i - log(1 - p_i)]

and the inverse is y = (sigmoid(z) - alpha) / (1 - 2 alpha). This log-det belongs in the
log-likelihood of y: leaving it out reports the density of z instead, which is the
"too good to be true" bits/dim of some reimplementations.
"""
import math

import minigen.nn as nn


class LogitTransform(nn.Module):
    def __init__(self, alpha=0.05):
        super().__init__()
        if not 0 < alpha < 0.5:
            raise ValueError(f"LogitTransform: alpha must be in (0, 0.5), got {alpha}")
        self.alpha = alpha

    def forward(self, y):
        p = self.alpha + (1 - 2 * self.alpha) * y
        log_p, log_1mp = p.log(), (1 - p).log()
        logdet = math.log(1 - 2 * self.alpha) - log_p - log_1mp
        return log_p - log_1mp, logdet.reshape(y.shape[0], -1).sum(axis=1)

    def inverse(self, z):
        return (z.sigmoid() - self.alpha) / (1 - 2 * self.alpha)
