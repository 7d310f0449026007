"""Squeeze: trade space for channels, (C, H, W) -> (4C, H/2, W/2), so that a coupling's
channel mask can mix pixels that were neighbours, and the next scale works on a coarser
grid.

Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP" (arXiv:1605.08803),
sec. 3.6: "the squeezing operation divides the image into subsquares of shape 2 x 2 x c,
then reshapes them into subsquares of shape 1 x 1 x 4c".

    y[n, 4c + 2 di + dj, i, j] = x[n, c, 2i + di, 2j + dj],     di, dj in {0, 1}

It only moves numbers, a permutation: log |det| = 0, and the inverse puts them back.
"""
import autograd
import minigen.nn as nn


class Squeeze(nn.Module):
    def forward(self, x):
        n, c, h, w = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"Squeeze: height and width must be even, got {x.shape}")
        y = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
        return y.reshape(n, 4 * c, h // 2, w // 2), autograd.zeros(n, dtype=x.dtype,
                                                                     device=x.device)

    def inverse(self, y):
        n, c4, h, w = y.shape
        x = y.reshape(n, c4 // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
        return x.reshape(n, c4 // 4, 2 * h, 2 * w)
