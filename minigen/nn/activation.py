"""Layers without weights that act element by element: the activations and dropout.

Each wraps one function of minigen.nn.functional (the formulas and their derivatives are
in autograd/ops/elementwise.py):
    ReLU       max(x, 0)
    LeakyReLU  x if x > 0 else a x           (a = negative_slope)
    SiLU       x sigmoid(x)                  (Elfwing et al. 2017, arXiv:1702.03118)
    GELU       0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
                                             (Hendrycks & Gimpel 2016, arXiv:1606.08415;
                                              the tanh form, PyTorch's approximate='tanh')
    Tanh, Sigmoid, Softplus = log(1 + e^x)
    Dropout    x * m / (1 - p), m_i ~ Bernoulli(1 - p), while training; x at eval
               (Srivastava et al. 2014, JMLR 15:1929)
"""
import minigen.nn.functional as F

from .module import Module


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class SiLU(Module):
    def forward(self, x):
        return F.silu(x)


class GELU(Module):
    def forward(self, x):
        return F.gelu(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Softplus(Module):
    def forward(self, x):
        return F.softplus(x)


class Dropout(Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
