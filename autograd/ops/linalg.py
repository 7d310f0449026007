"""Matrix product with batch broadcasting, as numpy.matmul / torch.matmul.

For C = A B (last two axes; leading axes broadcast):
    dL/dA = G B^T,   dL/dB = A^T G
(from dC_ij = sum_k dA_ik B_kj + A_ik dB_kj). The engine sums the batch axes
back if A or B was broadcast. 1-D operands are promoted to matrices first, as
numpy does, so the Function only ever sees ndim >= 2.
"""
from ..backend import array_module
from ..function import Function, expect_tensors


class MatMul(Function):
    def forward(self, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                             f"({a.shape[-1]} != {b.shape[-2]})")
        return array_module(a).matmul(a, b)

    def backward(self, g):
        a, b = self.inputs
        ga = g @ b.transpose(-1, -2) if self.needs_input_grad[0] else None
        gb = a.transpose(-1, -2) @ g if self.needs_input_grad[1] else None
        return ga, gb


def matmul(a, b):
    expect_tensors('matmul', a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: both operands need at least one dimension; use * for scalars")
    squeeze = []
    if a.ndim == 1:
        a, squeeze = a.reshape(1, -1), squeeze + [-2]
    if b.ndim == 1:
        b, squeeze = b.reshape(-1, 1), squeeze + [-1]
    out = MatMul.apply(a, b)
    if squeeze:
        out = out.reshape(out.shape[:-2] + tuple(n for i, n in zip((-2, -1), out.shape[-2:])
                                                if i not in squeeze))
    return out
