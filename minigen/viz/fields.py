"""A 2-D energy or density as a heat map with points on it, or with a vector field drawn as
arrows: the pictures of energy-based models (Du & Mordatch 2019, arXiv:1903.08689) and of
score matching, where the arrows are the score grad_x log p (Song & Ermon 2019,
arXiv:1907.05600, Fig. 1).

Values come on the grid of square_grid (row 0 at the top, y = +lim), as density_image reads
them; points and arrow tails are in data coordinates on [-lim, lim]^2 (y up). Returns a
(1, 3, size, size) float32 array in [0, 1], like points_image and density_image.
"""
import numpy as np
from PIL import Image, ImageDraw

from .density import density_image

POINT = (80, 200, 255)
ARROW = (255, 255, 255)


def square_grid(lim, n):
    """The centres of an n x n grid over [-lim, lim]^2, (n * n, 2), row by row from the
    top (y = +lim): values computed on them reshape to (n, n) as an image."""
    u = np.linspace(-lim, lim, n)
    xx, yy = np.meshgrid(u, u[::-1])
    return np.stack([xx.ravel(), yy.ravel()], 1)


def field_image(values, lim, points=None, arrows=None, label=None, size=240):
    """The heat map of `values` (n, n) (density_image's colours, brightest = largest), with
    `points` (N, 2) as dots and/or `arrows` = (tails (M, 2), vectors (M, 2)) drawn with
    lengths scaled so that the longest spans one grid cell of sqrt(M) across."""
    im = Image.fromarray(np.round(density_image(values, label, size)[0].transpose(1, 2, 0)
                                  * 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    to_px = lambda p: (np.asarray(p, np.float64) / lim * 0.5 + 0.5) * (size - 1)  # noqa: E731
    if arrows is not None:
        tails, vectors = (np.asarray(a, np.float64) for a in arrows)
        if tails.shape != vectors.shape or tails.ndim != 2 or tails.shape[1] != 2:
            raise ValueError(f"field_image: arrows must be tails and vectors of one shape "
                             f"(M, 2), got {tails.shape} and {vectors.shape}")
        cell = 2 * lim / max(1.0, np.sqrt(len(tails)))
        heads = tails + vectors * (0.9 * cell / max(np.linalg.norm(vectors, axis=1).max(),
                                                    1e-12))
        for (u0, v0), (u1, v1) in zip(to_px(tails), to_px(heads)):
            a, b = (u0, size - 1 - v0), (u1, size - 1 - v1)
            draw.line([a, b], fill=ARROW, width=1)
            draw.ellipse([b[0] - 1, b[1] - 1, b[0] + 1, b[1] + 1], fill=ARROW)
    if points is not None:
        p = np.asarray(points, np.float64)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"field_image: points must be (N, 2), got {p.shape}")
        for u, v in to_px(p[np.all(np.abs(p) < lim, axis=1)]):
            draw.ellipse([u - 1, size - 2 - v, u + 1, size - v], fill=POINT)
    return np.asarray(im, np.float32).transpose(2, 0, 1)[None] / 255
