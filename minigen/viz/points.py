"""2-D points drawn on a fixed square canvas, as an image batch: frames of an animation.

save_scatter fits its axes to each set of points; an animation of points moving (e.g. a
2-D diffusion model's reverse process, Ho et al. 2020, arXiv:2006.11239, from x_T to x_0)
needs the same axes in every frame, so this maps [-lim, lim]^2 onto the canvas.
"""
import numpy as np
from PIL import Image, ImageDraw

from .grid import TEXT

POINT = (31, 119, 180)


def points_image(points, lim, label=None, size=240):
    """Points (N, 2) on a [-lim, lim]^2 canvas of size x size pixels (y up), points
    outside left out, an optional label at the top left: a (1, 3, size, size) float32
    array in [0, 1], ready for save_gif or save_image."""
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or not lim > 0:
        raise ValueError(f"points_image: expected points (N, 2) and lim > 0, got {x.shape} "
                         f"and {lim}")
    im = Image.new('RGB', (size, size), 'white')
    draw = ImageDraw.Draw(im)
    inside = np.all(np.abs(x) < lim, axis=1)
    px = (x[inside] / lim * 0.5 + 0.5) * (size - 1)
    for u, v in px:
        draw.ellipse([u - 1, size - 2 - v, u + 1, size - v], fill=POINT)
    if label:
        draw.text((4, 4), label, fill=TEXT)
    return np.asarray(im, np.float32).transpose(2, 0, 1)[None] / 255
