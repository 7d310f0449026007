"""minigen.viz: pictures through Pillow alone (no matplotlib).

    grid.py      image grids to PNG, with row labels or captions; interpolation strips
    gif.py       an animated GIF of a sampling trajectory (noise to image, x_t over x0_hat)
    plots.py     loss curves (log scale, legend), 2-D scatter plots, labelled bubbles
    progress.py  the progress bar every long loop shows, with its loss
and the figures the demos share:
    loss_curve.py      a loss with its running mean (every demo's loss.png); several, a panel each
    panels.py          grids side by side, each titled (guidance scales, samplers); rows stacked
    points.py          2-D points on fixed axes, frames of an animation
    scatter_panels.py  scatter plots side by side, coloured by the same labels
    similarity.py      CLIP's image-text similarity matrix as a heat map
    attention.py       a ViT's class-token attention maps under their images (DINO)
    tokens.py          a VQ-VAE's token grid beside its image
    channels.py        an image beside its latent's channels (latent diffusion)
    density.py         a 2-D density as a heat map; a deformed grid's lines (flows)
    fields.py          a 2-D energy as a heat map with chains or score arrows (energy models)
"""
from .grid import make_grid, grid_image, save_image, save_interpolation  # noqa: F401
from .gif import save_gif, save_trajectory_gif  # noqa: F401
from .plots import curves_plot, save_bubbles, save_curves, save_scatter  # noqa: F401
from .progress import progress  # noqa: F401
from .panels import figure_pil, panels_image, save_panels, stacked_image  # noqa: F401
from .loss_curve import running_mean, save_loss_curve, save_loss_panels  # noqa: F401
from .points import points_image  # noqa: F401
from .tokens import save_token_grid  # noqa: F401
from .similarity import save_similarity  # noqa: F401
from .attention import attention_image  # noqa: F401
from .scatter_panels import save_scatter_panels  # noqa: F401
from .channels import latent_channels_image, save_latent_channels  # noqa: F401
from .density import density_image, curves_image  # noqa: F401
from .fields import field_image  # noqa: F401
