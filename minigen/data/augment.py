"""Image augmentations for contrastive learning, vectorized over a batch.

SimCLR (Chen, Kornblith, Norouzi and Hinton 2020, arXiv:2002.05709, Sec. 3 and
Appendix A) learns by making two random "views" of each image agree; which views it
draws decides what is learned. Its ablation studies these operators, all here:

    random_resized_crop   crop of area ~ U(0.08, 1) x HW and aspect ratio
                          log r ~ U(log 3/4, log 4/3), resized back (bilinear)
    random_salient_crop   the same, centred on a pixel drawn in proportion to its
                          distance from the background colour (ContrastiveCrop's idea)
    random_background     the objects (given their masks m) over a background b drawn
                          from a bank, x' = m x + (1 - m) b (Ryali et al. 2021)
    random_hflip          mirror left-right, p = 0.5
    color_jitter          brightness x f, contrast and saturation  m + f (x - m),
                          f ~ U(1 - 0.8s, 1 + 0.8s); hue shift ~ U(-0.2s, 0.2s); p = 0.8
    random_grayscale      luma Y = 0.299 R + 0.587 G + 0.114 B in every channel, p = 0.2
    random_gaussian_blur  sigma ~ U(0.1, 2), kernel 10% of the image side, p = 0.5
    random_rot90          rotation by k x 90 degrees, k ~ U{0, 1, 2, 3}
    random_cutout         a square hole of side ~ U(0.2, 0.5) x H, filled with 0
                          (DeVries and Taylor 2017, arXiv:1708.04552)
    gaussian_noise        x + sigma eps, sigma ~ U(0, 0.1)
    random_sobel          the Sobel edge magnitude of the luma

Images are (N, C, H, W) floats in [0, 1], NumPy or CuPy: the work runs where the batch
lives. Every random operator is `op(x, rng, ...)` with `rng` a NumPy Generator, a seed,
or None (autograd's CPU generator, seeded by autograd.manual_seed); the per-image
parameters are drawn on the CPU, so a seed gives the same views on either device.
`Compose` chains operators; `simclr_augment` is the paper's pipeline.
"""
import math
from functools import partial

import numpy as np

from autograd import backend

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as PIL and torchvision


def _rng(rng):
    return backend.rng('cpu') if rng is None else np.random.default_rng(rng)


def _check(x, fn):
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.dtype.kind != 'f':
        raise ValueError(f"{fn}: expected float images (N, C, H, W) with C = 1 or 3, got "
                         f"{x.dtype} of shape {x.shape}")
    return backend.array_module(x)


def _per_image(x, value):
    """A scalar or (N,) parameter as an array that broadcasts against (N, C, H, W)."""
    return backend.array_module(x).asarray(value, dtype=x.dtype).reshape(-1, 1, 1, 1)


def _apply(x, mask, fn, *params):
    """fn(images, *params) applied to the images where `mask` (N,) is true."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return x
    out, i = x.copy(), backend.array_module(x).asarray(idx)
    out[i] = fn(x[i], *(np.asarray(p)[idx] for p in params))
    return out


# --- geometry ------------------------------------------------------------------------
def resized_crop(x, boxes, size):
    """Crop box n = (top, left, height, width) (pixels, fractional allowed) of image n,
    resampled to size (h, w) bilinearly: output pixel i reads the source at
    y = top + (i + 1/2) height / h - 1/2 (pixel centres align), blending its 4 neighbours."""
    xp = _check(x, 'resized_crop')
    n, _, h, w = x.shape
    top, left, bh, bw = (xp.asarray(boxes[:, k], dtype=x.dtype)[:, None] for k in range(4))
    ys = xp.clip(top + (xp.arange(size[0], dtype=x.dtype) + 0.5) * bh / size[0] - 0.5, 0, h - 1)
    xs = xp.clip(left + (xp.arange(size[1], dtype=x.dtype) + 0.5) * bw / size[1] - 0.5, 0, w - 1)
    y0, x0 = xp.floor(ys).astype(np.int64), xp.floor(xs).astype(np.int64)
    y1, x1 = xp.minimum(y0 + 1, h - 1), xp.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None, :, None], (xs - x0)[:, None, None, :]
    rows = xp.arange(n)[:, None, None]

    def at(yi, xi):  # x[n, :, yi[n, i], xi[n, j]] for every output pixel -> (N, C, h, w)
        return x[rows, :, yi[:, :, None], xi[:, None, :]].transpose(0, 3, 1, 2)
    upper = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    lower = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return (upper * (1 - wy) + lower * wy).astype(x.dtype)


def _crop_sizes(rng, n, h, w, scale, ratio):
    """(height, width) of n boxes of area ~ U(scale) x HW and log-ratio ~ U(log ratio):
    ten draws per image, the first that fits (none fitting, the whole image)."""
    area = h * w * rng.uniform(*scale, (n, 10))
    aspect = np.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1]), (n, 10)))
    bw, bh = np.sqrt(area * aspect), np.sqrt(area / aspect)
    fits = (bw <= w) & (bh <= h)
    first = fits.argmax(1)
    bw = np.where(fits.any(1), bw[np.arange(n), first], w)
    bh = np.where(fits.any(1), bh[np.arange(n), first], h)
    return bh, bw


def _size(size, h, w):
    return (h, w) if size is None else (size, size) if isinstance(size, int) else tuple(size)


def random_resized_crop(x, rng, size=None, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """A random crop of each image, resized to `size` (int or (h, w); default: H, W).
    Ten (area, ratio) draws are tried per image, the first that fits is used (none
    fitting, the whole image), and its position is uniform."""
    _check(x, 'random_resized_crop')
    n, _, h, w = x.shape
    rng = _rng(rng)
    bh, bw = _crop_sizes(rng, n, h, w, scale, ratio)
    top, left = rng.random(n) * (h - bh), rng.random(n) * (w - bw)
    return resized_crop(x, np.stack([top, left, bh, bw], 1), _size(size, h, w))


def saliency(x):
    """Per-pixel distance ||x(u) - m||_2 over the channels (N, H, W) from m, each image's
    per-channel median: large where the image differs from its background (the median
    is the background's colour wherever the objects cover under half of the image)."""
    xp = _check(x, 'saliency')
    m = xp.median(x.reshape(x.shape[0], x.shape[1], -1), axis=2)[:, :, None, None]
    return xp.sqrt(((x - m) ** 2).sum(axis=1))


def random_salient_crop(x, rng, size=None, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                        power=2.0):
    """random_resized_crop whose box is centred on a pixel drawn with probability
    proportional to saliency(x)^power (uniform over a flat image), then moved inside the
    image: a small crop lands on the object rather than on the background. The
    centre-from-a-heat-map idea is ContrastiveCrop's (Peng et al. 2022, arXiv:2202.03278),
    with the pixels' distance from the background colour as the heat map."""
    _check(x, 'random_salient_crop')
    n, _, h, w = x.shape
    rng = _rng(rng)
    bh, bw = _crop_sizes(rng, n, h, w, scale, ratio)
    heat = backend.to_numpy(saliency(x)).reshape(n, -1).astype(np.float64) ** power
    heat = heat + 1e-12 * heat.max(axis=1, keepdims=True) + 1e-30      # flat image: uniform
    cdf = np.cumsum(heat / heat.sum(axis=1, keepdims=True), axis=1)
    pixel = np.minimum((cdf < rng.random((n, 1))).sum(axis=1), h * w - 1)
    cy = pixel // w + rng.random(n)                                      # within the pixel
    cx = pixel % w + rng.random(n)
    top, left = np.clip(cy - bh / 2, 0, h - bh), np.clip(cx - bw / 2, 0, w - bw)
    return resized_crop(x, np.stack([top, left, bh, bw], 1), _size(size, h, w))


def replace_background(x, masks, backgrounds):
    """x' = m x + (1 - m) b: each image's objects (coverage masks m (N, 1, H, W) in [0, 1])
    laid over a new background b (N, C, H, W)."""
    xp = _check(x, 'replace_background')
    if masks.shape != (x.shape[0], 1, *x.shape[2:]) or backgrounds.shape != x.shape:
        raise ValueError(f"replace_background: images {x.shape} need masks "
                         f"{(x.shape[0], 1, *x.shape[2:])} and backgrounds {x.shape}, got "
                         f"{masks.shape} and {backgrounds.shape}")
    m = xp.asarray(masks, dtype=x.dtype)
    return m * x + (1 - m) * xp.asarray(backgrounds, dtype=x.dtype)


def random_background(x, rng, masks, bank, p=1.0):
    """Background augmentation (Ryali, Schwab and Morcos 2021, arXiv:2103.12719): with
    probability p an image's background is replaced by one drawn at random from `bank`
    (M, C, H, W), keeping its objects (replace_background): two views of one image then
    share its object but not its background, which can no longer be what matches them."""
    _check(x, 'random_background')
    rng = _rng(rng)
    picked = bank[rng.integers(len(bank), size=len(x))]
    swap = rng.random(len(x)) < p
    return _apply(x, swap, lambda y, m, b: replace_background(y, m, b), masks, picked)


def random_hflip(x, rng, p=0.5):
    """Mirror each image left-right with probability p."""
    _check(x, 'random_hflip')
    return _apply(x, _rng(rng).random(len(x)) < p, lambda y: y[..., ::-1])


def rot90(x, k):
    """Image n rotated by k[n] x 90 degrees counter-clockwise (square images)."""
    xp = _check(x, 'rot90')
    if x.shape[2] != x.shape[3]:
        raise ValueError(f"rot90: images must be square to rotate in a batch, got {x.shape}")
    k = np.broadcast_to(np.asarray(k) % 4, (len(x),))
    for j in (1, 2, 3):
        x = _apply(x, k == j, lambda y: xp.rot90(y, j, axes=(2, 3)))
    return x


def random_rot90(x, rng):
    """Rotate each image by a random multiple of 90 degrees."""
    return rot90(x, _rng(rng).integers(4, size=len(x)))


def random_cutout(x, rng, side=(0.2, 0.5)):
    """Zero a square of side ~ U(side) x H pixels centred anywhere in each image (pixels
    whose centres fall inside)."""
    xp = _check(x, 'random_cutout')
    n, _, h, w = x.shape
    rng = _rng(rng)
    half = xp.asarray(rng.uniform(*side, n) * h / 2)[:, None]
    cy, cx = (xp.asarray(rng.uniform(0, d, n))[:, None] for d in (h, w))
    inside_y = xp.abs(xp.arange(h) + 0.5 - cy) < half
    inside_x = xp.abs(xp.arange(w) + 0.5 - cx) < half
    return xp.where(inside_y[:, None, :, None] & inside_x[:, None, None, :], 0, x).astype(x.dtype)


# --- colour --------------------------------------------------------------------------
def grayscale(x):
    """Luma Y = 0.299 R + 0.587 G + 0.114 B copied into every channel."""
    _check(x, 'grayscale')
    if x.shape[1] == 1:
        return x
    y = LUMA[0] * x[:, 0:1] + LUMA[1] * x[:, 1:2] + LUMA[2] * x[:, 2:3]
    return backend.array_module(x).repeat(y, 3, axis=1).astype(x.dtype)


def adjust_brightness(x, f):
    """x f, clipped to [0, 1] (f a scalar or one factor per image)."""
    return backend.array_module(x).clip(x * _per_image(x, f), 0, 1)


def adjust_contrast(x, f):
    """m + f (x - m) with m the image's mean luma: f = 0 gives flat grey, 1 the image."""
    m = grayscale(x).mean(axis=(1, 2, 3), keepdims=True)
    return backend.array_module(x).clip(m + _per_image(x, f) * (x - m), 0, 1)


def adjust_saturation(x, f):
    """Y + f (x - Y) with Y the pixel's luma: f = 0 gives grayscale, 1 the image."""
    y = grayscale(x)
    return backend.array_module(x).clip(y + _per_image(x, f) * (x - y), 0, 1)


def rgb_to_hsv(x):
    """Hue h in [0, 1), saturation s and value v, each (N, H, W), of RGB images."""
    xp = backend.array_module(x)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    v, c = x.max(axis=1), x.max(axis=1) - x.min(axis=1)   # value and chroma
    safe_c = xp.where(c > 0, c, 1)
    h = xp.where(v == r, (g - b) / safe_c,
                 xp.where(v == g, 2 + (b - r) / safe_c, 4 + (r - g) / safe_c))
    return (h / 6) % 1.0, xp.where(v > 0, c / xp.where(v > 0, v, 1), 0), v


def hsv_to_rgb(h, s, v):
    """RGB (N, 3, H, W): channel n in (R, G, B) = v - v s clip(min(k, 4 - k), 0, 1) with
    k = (n + 6 h) mod 6 and n = 5, 3, 1 (the branch-free form of the hexcone)."""
    xp = backend.array_module(h)
    k = [(n + 6 * h) % 6 for n in (5, 3, 1)]
    return xp.stack([v - v * s * xp.clip(xp.minimum(kn, 4 - kn), 0, 1) for kn in k], axis=1)


def adjust_hue(x, shift):
    """Rotate every pixel's hue by `shift` turns (0 and 1 leave the image unchanged)."""
    _check(x, 'adjust_hue')
    if x.shape[1] == 1:
        return x
    h, s, v = rgb_to_hsv(x)
    shift = backend.array_module(x).asarray(shift, dtype=x.dtype).reshape(-1, 1, 1)
    return hsv_to_rgb((h + shift) % 1.0, s, v).astype(x.dtype)


def color_jitter(x, rng, brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2, p=0.8,
                 random_order=True):
    """With probability p per image: brightness, contrast and saturation factors
    f ~ U(max(0, 1 - a), 1 + a) and a hue shift ~ U(-hue, hue), applied in a random order
    per image (or in that order) like torchvision's ColorJitter."""
    _check(x, 'color_jitter')
    n, rng = len(x), _rng(rng)
    params = [rng.uniform(max(0.0, 1 - a), 1 + a, n) for a in (brightness, contrast, saturation)]
    params.append(rng.uniform(-hue, hue, n))
    ops = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
    order = np.argsort(rng.random((n, 4)), axis=1) if random_order else np.tile(np.arange(4), (n, 1))
    jitter = rng.random(n) < p
    for step in range(4):
        for j, op in enumerate(ops):
            x = _apply(x, jitter & (order[:, step] == j), op, params[j])
    return x


def random_grayscale(x, rng, p=0.2):
    """Replace each image by its luma with probability p."""
    _check(x, 'random_grayscale')
    return _apply(x, _rng(rng).random(len(x)) < p, grayscale)


# --- filters -------------------------------------------------------------------------
def gaussian_blur(x, sigma, kernel_size=None):
    """Blur image n with a Gaussian of std sigma[n] px, separably: w_j ~ exp(-j^2 / (2
    sigma^2)) for |j| <= k // 2, normalised, along columns then rows, reflecting at the
    border. Default kernel size k: 10% of the image height, odd (SimCLR's choice)."""
    xp = _check(x, 'gaussian_blur')
    h = x.shape[2]
    k = kernel_size or 2 * max(1, int(0.05 * h)) + 1
    if k % 2 == 0 or k // 2 >= min(x.shape[2:]):
        raise ValueError(f"gaussian_blur: kernel_size must be odd and smaller than twice the "
                         f"image side, got {k} for images {x.shape}")
    j = xp.arange(-(k // 2), k // 2 + 1, dtype=x.dtype)
    s = xp.asarray(sigma, dtype=x.dtype).reshape(-1, 1)
    weight = xp.exp(-j ** 2 / (2 * s ** 2))
    weight = (weight / weight.sum(axis=1, keepdims=True))[:, :, None, None, None]
    for axis in (2, 3):
        pad = [(0, 0)] * 4
        pad[axis] = (k // 2, k // 2)
        padded, size = xp.pad(x, pad, mode='reflect'), x.shape[axis]
        x = sum(weight[:, t] * (padded[:, :, t:t + size] if axis == 2 else padded[..., t:t + size])
                for t in range(k))
    return x.astype(weight.dtype)


def random_gaussian_blur(x, rng, sigma=(0.1, 2.0), p=0.5):
    """Blur each image with probability p, with sigma ~ U(sigma) px."""
    _check(x, 'random_gaussian_blur')
    rng = _rng(rng)
    sigmas = rng.uniform(*sigma, len(x))
    return _apply(x, rng.random(len(x)) < p, gaussian_blur, sigmas)


def sobel(x):
    """Edge magnitude sqrt(Gx^2 + Gy^2) / (4 sqrt 2) of the luma Y, in [0, 1], in every
    channel: Gx = [1 2 1]^T [-1 0 1] * Y and Gy its transpose, replicating the border."""
    xp = _check(x, 'sobel')
    y = grayscale(x)[:, :1]
    p = xp.pad(y, [(0, 0), (0, 0), (1, 1), (1, 1)], mode='edge')
    dx, dy = p[..., 2:] - p[..., :-2], p[:, :, 2:] - p[:, :, :-2]   # central differences
    gx = dx[:, :, :-2] + 2 * dx[:, :, 1:-1] + dx[:, :, 2:]           # smoothed across them
    gy = dy[..., :-2] + 2 * dy[..., 1:-1] + dy[..., 2:]
    magnitude = xp.sqrt(gx ** 2 + gy ** 2) / (4 * math.sqrt(2))
    return xp.repeat(magnitude, x.shape[1], axis=1).astype(x.dtype)


def random_sobel(x, rng, p=0.5):
    """Replace each image by its Sobel edge magnitude with probability p."""
    _check(x, 'random_sobel')
    return _apply(x, _rng(rng).random(len(x)) < p, sobel)


def gaussian_noise(x, rng, sigma=(0.0, 0.1)):
    """x + s eps clipped to [0, 1], eps ~ N(0, I), s ~ U(sigma) per image."""
    xp = _check(x, 'gaussian_noise')
    rng = _rng(rng)
    s = _per_image(x, rng.uniform(*sigma, len(x)))
    eps = xp.asarray(rng.standard_normal(x.shape, dtype=np.float32), dtype=x.dtype)
    return xp.clip(x + s * eps, 0, 1)


# --- pipelines -----------------------------------------------------------------------
class Compose:
    """Apply `transforms` (each t(x, rng)) in turn, all drawing from one generator."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        rng = _rng(rng)
        for t in self.transforms:
            x = t(x, rng)
        return x


def simclr_augment(size=None, strength=1.0, blur=True):
    """SimCLR's augmentation (Appendix A): random resized crop, flip, colour jitter of
    strength s = `strength` (p 0.8), grayscale (p 0.2), Gaussian blur (p 0.5). The paper
    uses s = 1 with blur on ImageNet, and s = 0.5 without blur on CIFAR-10."""
    transforms = [partial(random_resized_crop, size=size), random_hflip,
                  partial(color_jitter, brightness=0.8 * strength, contrast=0.8 * strength,
                          saturation=0.8 * strength, hue=0.2 * strength, p=0.8),
                  partial(random_grayscale, p=0.2)]
    if blur:
        transforms.append(partial(random_gaussian_blur, p=0.5))
    return Compose(transforms)
