"""minigen.viz: pictures through Pillow alone (no matplotlib).

    grid.py      image grids to PNG, with row labels or captions; interpolation strips
    gif.py       an animated GIF of a sampling trajectory (noise to image)
    plots.py     loss curves (log scale, legend) and 2-D scatter plots
    progress.py  the progress bar every long loop shows, with its loss
"""
from .grid import make_grid, grid_image, save_image, save_interpolation  # noqa: F401
from .gif import save_gif  # noqa: F401
from .plots import save_curves, save_scatter  # noqa: F401
from .progress import progress  # noqa: F401
