"""Structural similarity (SSIM): closeness of two images in local means, contrasts and
correlations rather than in raw pixel errors.

Wang, Bovik, Sheikh, Simoncelli 2004, "Image Quality Assessment: From Error Visibility to
Structural Similarity", IEEE Transactions on Image Processing 13(4).

Around every pixel, a Gaussian window w (11 x 11, sigma 1.5, weights summing to 1) gives
local statistics of the images x and y:

    mu_x = w * x,   sigma_x^2 = w * x^2 - mu_x^2,   sigma_xy = w * (x y) - mu_x mu_y

(* is filtering; the weighted, population moments of the paper), and

    SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2)
                 / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)),
    C1 = (K1 L)^2,  C2 = (K2 L)^2,  K1 = 0.01,  K2 = 0.03,  L = data_range.

The map is computed only where the window fits inside the image ('valid' filtering, as
the authors' ssim.m does with filter2(w, x, 'valid')), separately for every channel, and
the result is the mean of the map over positions, channels and images. The 2-D Gaussian
is separable, w = g g^T, so the filter is a 1-D one along rows then columns, done as a
product of sliding windows with g (numpy.lib.stride_tricks.sliding_window_view).
Images are channels first, each with 1 to 4 channels (gray, gray + alpha, RGB, RGBA): an
(H, W, C) image read as (C, H, W) would slide the window over W and C, so a channel axis
longer than 4 is refused as channels-last. NaN or inf pixels are refused too (they would
make the mean NaN).
SSIM is 1 only for identical images. scikit-image's default (7 x 7 uniform window, sample
covariance, reflect padding) gives different numbers; this is the paper's setting.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

K1, K2, WINDOW, SIGMA = 0.01, 0.03, 11, 1.5
MAX_CHANNELS = 4  # gray, gray + alpha, RGB, RGBA


def gaussian_window(size=WINDOW, sigma=SIGMA):
    """The 1-D Gaussian g (size,), g_i proportional to exp(-(i - c)^2 / (2 sigma^2)), sum 1."""
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _filter_valid(x, g):
    """w * x with w = g g^T over the last two axes, only where the window fits."""
    x = sliding_window_view(x, len(g), axis=-2) @ g      # along rows: (..., H-s+1, W)
    return sliding_window_view(x, len(g), axis=-1) @ g   # along columns: (..., H-s+1, W-s+1)


def _check_pair(a, b, name):
    """a, b as float64 after checking: one shape (H, W), (C, H, W) or (N, C, H, W), channels
    first with at most MAX_CHANNELS, every pixel finite."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim not in (2, 3, 4):
        raise ValueError(f"{name}: expected two images of one shape (H, W), (C, H, W) or "
                         f"(N, C, H, W), got {a.shape} and {b.shape}")
    if a.ndim > 2 and a.shape[-3] > MAX_CHANNELS:
        layout = '(C, H, W)' if a.ndim == 3 else '(N, C, H, W)'
        move = 'x.transpose(2, 0, 1)' if a.ndim == 3 else 'x.transpose(0, 3, 1, 2)'
        raise ValueError(f"{name}: images of shape {a.shape} read as {layout} have "
                         f"{a.shape[-3]} channels, but an image has 1 to {MAX_CHANNELS}: they "
                         f"look channels-last; pass them channels first ({move})")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(f"{name}: the images contain NaN or inf")
    return a, b


def ssim_map(a, b, data_range=1.0):
    """The SSIM map (..., H-10, W-10) of images a, b of shape (H, W), (C, H, W) or
    (N, C, H, W); channels-last or non-finite images raise a ValueError."""
    a, b = _check_pair(a, b, 'ssim')
    if min(a.shape[-2:]) < WINDOW:
        raise ValueError(f"ssim: images must be at least {WINDOW}x{WINDOW} (the Gaussian "
                         f"window) in their last two axes, got {a.shape}; pass channels first")
    g = gaussian_window()
    C1, C2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a ** 2
    var_b = _filter_valid(b * b, g) - mu_b ** 2
    cov_ab = _filter_valid(a * b, g) - mu_a * mu_b
    return ((2 * mu_a * mu_b + C1) * (2 * cov_ab + C2)
            / ((mu_a ** 2 + mu_b ** 2 + C1) * (var_a + var_b + C2)))


def ssim(a, b, data_range=1.0):
    """Mean SSIM of two images or batches (H, W), (C, H, W) or (N, C, H, W), values spanning
    data_range."""
    return float(ssim_map(a, b, data_range).mean())
