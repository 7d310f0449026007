"""Peak signal-to-noise ratio (PSNR): the mean squared error on a logarithmic scale.

    PSNR(x, y) = 10 log10( L^2 / MSE ),   MSE = mean (x - y)^2,   L = data_range,

in decibels; higher is closer, +inf for identical images. Each +6 dB halves the RMS error.
The mean squared error is taken over all pixels, channels and images of the batch.
"""
import numpy as np


def psnr(a, b, data_range=1.0):
    """PSNR in dB of two images or batches of the same shape, values spanning data_range
    (NaN or inf pixels raise a ValueError)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"psnr: expected two non-empty arrays of one shape, got {a.shape} "
                         f"and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("psnr: the images contain NaN or inf")
    mse = np.mean((a - b) ** 2)
    return float('inf') if mse == 0 else float(10 * np.log10(data_range ** 2 / mse))
