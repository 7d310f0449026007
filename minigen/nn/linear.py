"""Linear and Embedding: the two layers that are one matrix.

Linear (a fully connected layer), for x of shape (*, in_features):
    y = x W^T + b,    W: (out_features, in_features),  b: (out_features,)
Its gradient needs no new op: matmul's VJP gives dL/dx = G W and dL/dW = G^T x, and the
engine sums the broadcast b back, dL/db = sum over rows of G.
Init (PyTorch's): W ~ kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), and
b ~ U(-1/sqrt(in), 1/sqrt(in)).

Embedding: a lookup table W of shape (num_embeddings, embedding_dim); integer indices
of any shape (*) give rows W[indices] of shape (*, embedding_dim). It is a Linear layer
applied to one-hot vectors, without building them: dL/dW adds each row's gradient at
its index. Init (PyTorch's): W ~ N(0, 1).
"""
import math

import autograd
from autograd.ops import linalg as _linalg

from . import init
from .module import Module, Parameter, check_size


def linear(x, weight, bias=None):
    """x W^T + b for x (*, in). Leading axes are flattened into one matrix first, so
    the weight's gradient is one matrix product (not a batch of them summed).

    What it computes is the line `x @ weight.T + bias`; it runs as one op of the engine
    (autograd.ops.linalg.linear, tested equal to that line), because a small network is
    mostly Linear layers and three ops cost three times the engine's bookkeeping."""
    if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: x (*, in) and weight (out, in) do not match: got x "
                         f"{x.shape}, weight {weight.shape}")
    if x.ndim == 1:  # a single vector: the plain line
        y = x @ weight.T
        return y if bias is None else y + bias
    if bias is not None and bias.shape != (weight.shape[0],):
        y = x.reshape(-1, x.shape[-1]) @ weight.T + bias  # a bias that broadcasts otherwise
    else:
        y = _linalg.linear(x.reshape(-1, x.shape[-1]) if x.ndim > 2 else x, weight, bias)
    return y.reshape(x.shape[:-1] + (weight.shape[0],)) if x.ndim > 2 else y


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = check_size('Linear', 'in_features', in_features)
        self.out_features = check_size('Linear', 'out_features', out_features)
        self.weight = Parameter(autograd.zeros(out_features, in_features))
        self.bias = Parameter(autograd.zeros(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # = U(-1/sqrt(in), 1/sqrt(in))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.num_embeddings = check_size('Embedding', 'num_embeddings', num_embeddings)
        self.embedding_dim = check_size('Embedding', 'embedding_dim', embedding_dim)
        self.weight = Parameter(autograd.zeros(num_embeddings, embedding_dim))
        init.normal_(self.weight)

    def forward(self, indices):
        if not isinstance(indices, autograd.Tensor):
            indices = autograd.tensor(indices, device=self.weight.device)
        idx, n = indices.data, self.num_embeddings
        if idx.dtype.kind in 'iu' and idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise IndexError(f"Embedding: indices must be in [0, {self.num_embeddings}), got "
                             f"values from {int(idx.min())} to {int(idx.max())}")
        return autograd.embedding(indices, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"
