"""An animated GIF of a sampling trajectory: noise turning into images, step by step.

`frames` is a sequence of T batches (N, C, H, W) (or one array (T, N, C, H, W)), e.g. the
x_t a diffusion sampler visits; frame t is the grid of batch t (as `save_image` lays it
out), optionally with a label such as "t = 999" above it. The last frame is held a
while so the result can be seen before the loop restarts. save_trajectory_gif draws what
a diffusion sampler records, (t, x_t, x0_hat) at each kept step: the noisy image over the
network's prediction of the clean one.
"""
import numpy as np
from PIL import Image, ImageDraw

from autograd import Tensor
from autograd.backend import to_numpy
from .grid import BACKGROUND, TEXT, font, grid_image


def save_gif(frames, path, nrow=8, value_range=(0.0, 1.0), scale=None, duration=80,
             hold_last=1500, frame_labels=None):
    """Write the trajectory `frames` to an animated GIF at `path`, `duration` ms a frame."""
    if isinstance(frames, Tensor):
        frames = frames.data
    if hasattr(frames, 'ndim') and frames.ndim == 5:
        frames = list(to_numpy(frames))
    frames = list(frames)
    if not frames:
        raise ValueError("save_gif: no frames given")
    if frame_labels is not None and len(frame_labels) != len(frames):
        raise ValueError(f"save_gif: {len(frame_labels)} frame_labels for {len(frames)} frames")
    images = [grid_image(f, nrow=nrow, value_range=value_range, scale=scale) for f in frames]
    if len({im.size for im in images}) != 1:
        raise ValueError(f"save_gif: frames of different shapes "
                         f"{sorted({tuple(np.shape(to_numpy(getattr(f, 'data', f)))) for f in frames})}")
    if frame_labels is not None:
        fnt = font(14)
        height = fnt.getbbox('Ag')[3] + 8
        labelled = []
        for im, label in zip(images, frame_labels):
            canvas = Image.new('RGB', (im.width, im.height + height), BACKGROUND)
            canvas.paste(im, (0, height))
            ImageDraw.Draw(canvas).text((im.width // 2, 4), label, fill=TEXT, font=fnt, anchor='mt')
            labelled.append(canvas)
        images = labelled
    # 256 colours a frame; maximum coverage keeps small saturated objects true to colour
    palette = [im.quantize(colors=256, method=Image.Quantize.MAXCOVERAGE) for im in images]
    durations = [duration] * (len(images) - 1) + [max(duration, hold_last)]
    palette[0].save(path, save_all=True, append_images=palette[1:], duration=durations,
                    loop=0, optimize=False)


def save_trajectory_gif(trajectory, final, path, n=8, label='x_t | x0_hat, t = {t}',
                        **gif_options):
    """A diffusion sampler's recorded `trajectory`, [(t, x_t, x0_hat)] with images in
    [-1, 1], as a GIF: each frame a row of the first n x_t over a row of their x0_hat,
    labelled `label` (formatted with t), then the `final` images (in [0, 1]) in both rows,
    labelled 'x_0'. gif_options go to save_gif (scale, duration, ...)."""
    def unit(x):
        return np.clip((np.asarray(x[:n]) + 1) / 2, 0, 1)
    frames = [np.concatenate([unit(x_t), unit(hat)]) for _, x_t, hat in trajectory]
    save_gif(frames + [np.concatenate([final[:n]] * 2)], path, nrow=min(n, len(final)),
             frame_labels=[label.format(t=t) for t, _, _ in trajectory] + ['x_0'],
             **gif_options)
