"""Pictures side by side, each titled: the layout of a comparison figure.

A panel is a Pillow image or a batch of images (N, C, H, W) in [0, 1], which becomes a
grid (see grid.py). The panels are pasted left to right on a white canvas with a gap
between them, a title centred above each: e.g. one grid of samples per guidance scale
(Ho & Salimans 2022, arXiv:2207.12598, Fig. 1), one per sampler, or a scatter of the data
beside a scatter of the samples. stacked_image puts such rows one under another (a row per
dataset), and figure_pil turns one figure array (1, 3, H, W), as density_image and
points_image return it, into a Pillow image without a grid's padding.
"""
import numpy as np
from PIL import Image, ImageDraw

from .grid import BACKGROUND, TEXT, font, grid_image


def _as_pil(panel, nrow):
    if isinstance(panel, Image.Image):
        return panel.convert('RGB')
    return grid_image(panel, nrow=nrow)


def panels_image(panels, titles, nrow=8, gap=10, pad=22):
    """The panels in a row, `gap` pixels apart, `titles[i]` in a band of `pad` pixels above
    panel i, as one Pillow RGB image. Batches of images are laid out `nrow` to a row first."""
    panels = [_as_pil(p, nrow) for p in panels]
    if not panels or len(titles) != len(panels):
        raise ValueError(f"panels_image: need one title per panel, got {len(titles)} titles "
                         f"for {len(panels)} panels")
    width = sum(p.width for p in panels) + gap * (len(panels) - 1)
    canvas = Image.new('RGB', (width, max(p.height for p in panels) + pad), BACKGROUND)
    draw, left = ImageDraw.Draw(canvas), 0
    for panel, title in zip(panels, titles):
        canvas.paste(panel, (left, pad))
        draw.text((left + panel.width // 2, 4), title, fill=TEXT, font=font(14), anchor='mt')
        left += panel.width + gap
    return canvas


def save_panels(panels, titles, path, **kwargs):
    """Write the titled panels side by side to a PNG at `path` (see panels_image)."""
    panels_image(panels, titles, **kwargs).save(path)


def figure_pil(image):
    """One picture (1, 3, H, W) in [0, 1] (points_image, density_image, curves_image) as a
    Pillow RGB image, pixel for pixel."""
    return Image.fromarray((np.asarray(image)[0].transpose(1, 2, 0) * 255).round()
                           .astype(np.uint8))


def stacked_image(rows, gap=10):
    """Pillow images one under the other, `gap` pixels apart, left-aligned, on white."""
    canvas = Image.new('RGB', (max(r.width for r in rows),
                               sum(r.height for r in rows) + gap * (len(rows) - 1)), 'white')
    top = 0
    for r in rows:
        canvas.paste(r, (0, top))
        top += r.height + gap
    return canvas
