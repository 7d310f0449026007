"""A 2-D density as a heat map, and curves (a deformed grid) on fixed axes: the pictures of
a 2-D normalizing flow (Dinh et al. 2017, arXiv:1605.08803, Fig. 1; Rezende & Mohamed 2015,
arXiv:1505.05770, Fig. 3).

Both return a (1, 3, size, size) float32 array in [0, 1], as points.py does, so that
minigen.viz.panels_image or save_image can lay several side by side.
"""
import numpy as np
from PIL import Image, ImageDraw

from .grid import TEXT
from .plots import color

# a dark-to-bright ramp (the anchors of matplotlib's 'magma'), interpolated linearly
RAMP = np.array([(0, 0, 4), (81, 18, 124), (183, 55, 121), (252, 137, 97), (252, 253, 191)],
                np.float64) / 255


def density_image(values, label=None, size=240):
    """values (n, n), row 0 at the top (y = +lim) as log_density_grid returns them: each cell
    coloured by its value, lowest dark, highest bright (pass exp(log p) to see the
    density, log p to see its tails); an optional label at the top left."""
    v = np.asarray(values, np.float64)
    if v.ndim != 2 or not np.isfinite(v).all():
        raise ValueError(f"density_image: expected finite values (n, n), got {v.shape}")
    t = (v - v.min()) / max(v.max() - v.min(), 1e-12) * (len(RAMP) - 1)
    low = np.minimum(t.astype(int), len(RAMP) - 2)
    rgb = RAMP[low] + (t - low)[..., None] * (RAMP[low + 1] - RAMP[low])
    im = Image.fromarray((rgb * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)
    if label:
        ImageDraw.Draw(im).text((4, 4), label, fill=(255, 255, 255))
    return np.asarray(im, np.float32).transpose(2, 0, 1)[None] / 255


def curves_image(curves, lim, label=None, size=240, groups=1):
    """Polylines (L, P, 2) on a [-lim, lim]^2 canvas (y up); curve i is drawn in colour
    i // (L / groups) (e.g. groups=2: the grid's horizontal lines in one colour, its
    vertical ones in another); an optional label at the top left."""
    c = np.asarray(curves, np.float64)
    if c.ndim != 3 or c.shape[2] != 2 or not lim > 0:
        raise ValueError(f"curves_image: expected curves (L, P, 2) and lim > 0, got {c.shape} "
                         f"and {lim}")
    im = Image.new('RGB', (size, size), 'white')
    draw = ImageDraw.Draw(im)
    px = np.clip(c / lim * 0.5 + 0.5, -1, 2) * (size - 1)
    per_group = max(1, len(c) // groups)
    for i, line in enumerate(px):
        draw.line([(u, size - 1 - v) for u, v in line], fill=color(i // per_group), width=1)
    if label:
        draw.text((4, 4), label, fill=TEXT)
    return np.asarray(im, np.float32).transpose(2, 0, 1)[None] / 255
