"""Attention maps over an image, the figure of DINO (Caron et al. 2021, "Emerging
Properties in Self-Supervised Vision Transformers", arXiv:2104.14294, figure 1): the last
block's attention from the class token to each patch, one map per head, drawn under the
image it looked at.

Each map a (h, w) is stretched from its minimum to its maximum, a' = (a - min) / (max - min),
enlarged to the image by repeating each patch's value over its P x P pixels, and coloured
'hot' (black, red, yellow, white: channel k is clip(3 a' - k, 0, 1)).
"""
import numpy as np

from .grid import grid_image


def heat(maps):
    """Maps (N, h, w) in [0, 1] as 'hot' RGB images (N, 3, h, w): black, red, yellow, white."""
    return np.stack([np.clip(3 * maps - k, 0, 1) for k in range(3)], axis=1)


def attention_image(images, attention, scale=3):
    """images (N, C, H, W) in [0, 1] and attention (N, heads, h, w) over their patches (h
    dividing H) as one grid: a row of the images, then a row per head of its maps, each
    stretched to [0, 1] and enlarged to the image. Returns a Pillow image."""
    images, a = np.asarray(images), np.asarray(attention)
    if a.ndim != 4 or len(a) != len(images) or images.shape[2] % a.shape[2]:
        raise ValueError(f"viz.attention_image: expected attention (N, heads, h, w) over the "
                         f"patches of images {images.shape}, got {a.shape}")
    low, high = a.min(axis=(2, 3), keepdims=True), a.max(axis=(2, 3), keepdims=True)
    a = (a - low) / np.maximum(high - low, 1e-12)
    p = images.shape[2] // a.shape[2]
    a = a.repeat(p, axis=2).repeat(p, axis=3)
    rows = [images if images.shape[1] == 3 else images.repeat(3, axis=1)]
    rows += [heat(a[:, head]) for head in range(a.shape[1])]
    labels = ['image'] + [f'head {head + 1}' for head in range(a.shape[1])]
    return grid_image(np.concatenate(rows), nrow=len(images), scale=scale, row_labels=labels)
