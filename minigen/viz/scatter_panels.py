"""Scatter plots side by side in one PNG, coloured by the same labels: e.g. the PCA of a
trained encoder's features beside the same encoder's at initialisation, as in the
representation-learning papers' feature plots (e.g. SimCLR, Chen et al. 2020,
arXiv:2002.05709).
"""
import os
import tempfile

from PIL import Image

from .plots import save_scatter


def save_scatter_panels(panels, path, labels=None, class_names=None):
    """One scatter plot (save_scatter) per (points (N, 2), title) of `panels`, each coloured
    by the same integer `labels` (with a legend when `class_names` are given), pasted left to
    right on white, tops aligned, to a PNG."""
    if not panels:
        raise ValueError("save_scatter_panels: no panels")
    with tempfile.TemporaryDirectory() as tmp:
        ims = []
        for i, (points, title) in enumerate(panels):
            save_scatter(points, os.path.join(tmp, f'{i}.png'), labels=labels,
                         class_names=class_names, title=title)
            with Image.open(os.path.join(tmp, f'{i}.png')) as im:
                ims.append(im.convert('RGB'))
    canvas = Image.new('RGB', (sum(i.width for i in ims), max(i.height for i in ims)), 'white')
    left = 0
    for im in ims:
        canvas.paste(im, (left, 0))
        left += im.width
    canvas.save(path)
