"""A training loss curve with its running mean: every demo's loss.png.

The raw per-step loss is noisy (each step sees one minibatch and, for diffusion, random
timesteps), so the running mean over `window` steps is drawn beside it, on a log scale.
A demo that trains several models draws their running means side by side, a panel each
(save_loss_panels), since their losses are on different scales.
"""
import numpy as np

from .panels import save_panels
from .plots import curves_plot, save_curves


def running_mean(values, window):
    """Mean of each `window` consecutive values: (x, means) with x the index of the last
    value averaged, or None when there are fewer than `window` values."""
    values = np.asarray(values, dtype=np.float64)
    if window < 1 or len(values) < window:
        return None
    return np.arange(window - 1, len(values)), np.convolve(values, np.ones(window) / window,
                                                           mode='valid')


def save_loss_curve(losses, path, label='loss', window=50, title='training loss', log_y=True):
    """Write the per-step `losses` and their running mean over `window` steps to a PNG."""
    smooth = running_mean(losses, window)
    series = {label: np.asarray(losses, dtype=np.float64)}
    if smooth is not None:
        series[f'mean of {window}'] = smooth
    save_curves(series, path, log_y=log_y, title=title)


def save_loss_panels(histories, titles, path, window=20, size=(360, 260)):
    """Each run's losses ({name: per-step losses}) as its running mean over `window` steps
    (the raw losses while there are fewer), a plot of `size` each, side by side under
    `titles`, to a PNG at `path`."""
    panels = []
    for name, losses in histories.items():
        curve = (running_mean(losses, window) if len(losses) >= window
                 else (np.arange(len(losses)), losses))
        panels.append(curves_plot({name: curve}, size=size))
    save_panels(panels, titles, path)
