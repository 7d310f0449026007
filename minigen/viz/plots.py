"""Plots drawn with Pillow alone: loss curves and 2-D scatter plots, to PNG.

`Axes` maps data coordinates to pixels (y up), draws the frame, ticks at "nice" values
(1, 2 or 5 times a power of ten; powers of ten on a log axis), tick labels, axis labels, a
title and a legend. Everything is drawn at twice the final size and shrunk with a
Lanczos filter, which anti-aliases lines, dots and text.
"""
import math

import numpy as np
from PIL import Image, ImageDraw

from autograd import Tensor
from autograd.backend import to_numpy
from .grid import font

SS = 2  # supersampling factor
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
INK, GRID = (30, 30, 30), (228, 228, 228)


def color(i):
    """The i-th series colour: the ten of matplotlib's 'tab10', then golden-angle hues."""
    if i < len(PALETTE):
        return PALETTE[i]
    h = (i * 0.618034) % 1.0
    return tuple(int(255 * (0.45 + 0.4 * math.cos(2 * math.pi * (h - k / 3)))) for k in range(3))


def nice_ticks(lo, hi, count=6):
    """Ticks in [lo, hi] at multiples of 1, 2 or 5 x 10^k, about `count` of them."""
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10)), key=lambda s: abs(math.log(s / raw)))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = first + step * np.arange(int((hi - first) / step + 1e-9) + 1)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return ticks, [f'{t:.{decimals}f}' for t in ticks]


def log_ticks(lo, hi):
    """Ticks for a log10 axis spanning [lo, hi] (in log10 units): the powers of ten, and
    2 and 5 times them when the axis spans less than two decades."""
    mult = (1,) if hi - lo >= 2 else (1, 2, 5)
    values = [m * 10.0 ** e for e in range(math.floor(lo), math.ceil(hi) + 1) for m in mult]
    values = [v for v in values if lo - 1e-9 <= math.log10(v) <= hi + 1e-9]
    return np.log10(values), [f'{v:g}' for v in values]


def _limits(values, pad=0.05):
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi - lo < 1e-12:
        lo, hi = lo - max(1.0, abs(lo)) * 0.5, hi + max(1.0, abs(hi)) * 0.5
    return lo - pad * (hi - lo), hi + pad * (hi - lo)


class Axes:
    """A plot of `size` px with data limits xlim, ylim (ylim in log10 units if log_y)."""

    def __init__(self, size, xlim, ylim, log_y=False, title=None, xlabel=None, ylabel=None,
                 equal=False):
        self.width, self.height = size[0] * SS, size[1] * SS
        self.image = Image.new('RGB', (self.width, self.height), (255, 255, 255))
        self.draw = ImageDraw.Draw(self.image)
        self.font, self.small = font(13 * SS), font(11 * SS)
        self.left, self.right = 62 * SS, self.width - 16 * SS
        self.top, self.bottom = (34 if title else 14) * SS, self.height - 46 * SS
        if equal:  # widen one range so a data unit is as long on both axes
            per_px = max((xlim[1] - xlim[0]) / (self.right - self.left),
                         (ylim[1] - ylim[0]) / (self.bottom - self.top))
            xlim, ylim = [((lo + hi) / 2 - per_px * n / 2, (lo + hi) / 2 + per_px * n / 2)
                          for (lo, hi), n in ((xlim, self.right - self.left),
                                              (ylim, self.bottom - self.top))]
        self.xlim, self.ylim, self.log_y = xlim, ylim, log_y
        xt, xl = nice_ticks(*xlim)
        yt, yl = log_ticks(*ylim) if log_y else nice_ticks(*ylim)
        for t, label in zip(xt, xl):
            u = self.px(t, ylim[0])[0]
            self.draw.line([(u, self.top), (u, self.bottom)], fill=GRID, width=SS)
            self.draw.line([(u, self.bottom), (u, self.bottom + 5 * SS)], fill=INK, width=SS)
            self.draw.text((u, self.bottom + 7 * SS), label, fill=INK, font=self.small, anchor='mt')
        for t, label in zip(yt, yl):
            v = self.px(xlim[0], t)[1]
            self.draw.line([(self.left, v), (self.right, v)], fill=GRID, width=SS)
            self.draw.line([(self.left - 5 * SS, v), (self.left, v)], fill=INK, width=SS)
            self.draw.text((self.left - 7 * SS, v), label, fill=INK, font=self.small, anchor='rm')
        self.draw.rectangle([self.left, self.top, self.right, self.bottom], outline=INK, width=SS)
        mid_x, mid_y = (self.left + self.right) / 2, (self.top + self.bottom) / 2
        if title:
            self.draw.text((mid_x, 8 * SS), title, fill=INK, font=self.font, anchor='mt')
        if xlabel:
            self.draw.text((mid_x, self.height - 6 * SS), xlabel, fill=INK, font=self.font,
                           anchor='mb')
        if ylabel:  # written sideways: draw on its own image, rotate, paste
            box = self.font.getbbox(ylabel)
            label = Image.new('L', (box[2] + 4, box[3] + 4), 0)
            ImageDraw.Draw(label).text((2, 2), ylabel, fill=255, font=self.font)
            label = label.rotate(90, expand=True)
            self.image.paste(INK, (4 * SS, int(mid_y - label.height / 2)), label)

    def px(self, x, y):
        """Data coordinates -> pixel coordinates (arrays welcome)."""
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        u = self.left + (np.asarray(x) - x0) / (x1 - x0) * (self.right - self.left)
        v = self.bottom - (np.asarray(y) - y0) / (y1 - y0) * (self.bottom - self.top)
        return u, v

    def line(self, x, y, fill):
        u, v = self.px(x, np.log10(y) if self.log_y else y)
        self.draw.line(list(zip(u.tolist(), v.tolist())), fill=fill, width=2 * SS, joint='curve')

    def dots(self, x, y, fill, radius):
        r = radius * SS
        for u, v in zip(*(a.tolist() for a in self.px(x, y))):
            self.draw.ellipse([u - r, v - r, u + r, v + r], fill=fill)

    def legend(self, names, colors):
        """Names with colour swatches, in a box in the top right corner."""
        line_h = self.small.getbbox('Ag')[3] + 4 * SS
        w = max(self.small.getlength(s) for s in names) + 34 * SS
        x0, y0 = self.right - w - 8 * SS, self.top + 8 * SS
        self.draw.rectangle([x0, y0, x0 + w, y0 + line_h * len(names) + 6 * SS],
                            fill=(255, 255, 255), outline=(170, 170, 170), width=SS)
        for i, (name, c) in enumerate(zip(names, colors)):
            v = y0 + 4 * SS + line_h * (i + 0.5)
            self.draw.line([(x0 + 6 * SS, v), (x0 + 24 * SS, v)], fill=c, width=3 * SS)
            self.draw.text((x0 + 30 * SS, v), name, fill=INK, font=self.small, anchor='lm')

    def pil(self):
        return self.image.resize((self.width // SS, self.height // SS), Image.LANCZOS)

    def save(self, path):
        self.pil().save(path)


def save_curves(series, path, log_y=False, title=None, xlabel='step', ylabel='loss',
                size=(640, 400)):
    """Line plot of one or more series to a PNG: `series` maps a name to its values
    (x = 0, 1, 2, ...) or to a pair (x, values). Non-finite values are left out."""
    curves_plot(series, log_y, title, xlabel, ylabel, size).save(path)


def curves_plot(series, log_y=False, title=None, xlabel='step', ylabel='loss',
                size=(640, 400)):
    """save_curves' plot as a Pillow RGB image (to be a panel of a larger figure)."""
    if not isinstance(series, dict) or not series:
        raise ValueError("save_curves: series must be a non-empty dict name -> values")
    curves = {}
    for name, s in series.items():
        x, y = (s if isinstance(s, tuple) else (np.arange(len(s)), s))
        x, y = np.asarray(x, dtype=np.float64), np.asarray(to_numpy(y), dtype=np.float64)
        if x.shape != y.shape or y.ndim != 1:
            raise ValueError(f"save_curves: series {name!r} needs 1-D x and values of one "
                             f"length, got shapes {x.shape} and {y.shape}")
        keep = np.isfinite(y)
        if log_y and np.any(y[keep] <= 0):
            raise ValueError(f"save_curves: series {name!r} has values <= 0 "
                             f"(min {y[keep].min():g}), which a log scale cannot show")
        if keep.any():
            curves[name] = x[keep], y[keep]
    if not curves:
        raise ValueError("save_curves: no finite value in any series")
    xs = np.concatenate([x for x, _ in curves.values()])
    ys = np.concatenate([y for _, y in curves.values()])
    ylim = _limits(np.log10(ys)) if log_y else _limits(ys)
    ax = Axes(size, _limits(xs, pad=0.0) if np.ptp(xs) > 0 else _limits(xs), ylim,
              log_y, title, xlabel, ylabel)
    for i, (x, y) in enumerate(curves.values()):
        ax.line(x, y, color(i)) if len(x) > 1 else ax.dots(x, np.log10(y) if log_y else y,
                                                           color(i), 3)
    ax.legend(list(curves), [color(i) for i in range(len(curves))])
    return ax.pil()


def save_scatter(points, path, labels=None, class_names=None, title=None, size=480,
                 radius=1.5):
    """Scatter plot of 2-D `points` (N, 2) to a square PNG with equal axis scales,
    coloured by integer `labels` (N,) with a legend when `class_names` are given."""
    x = np.asarray(to_numpy(points.data if isinstance(points, Tensor) else points),
                   dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(f"save_scatter: expected points of shape (N, 2), N >= 1, got {x.shape}")
    y = (np.zeros(len(x), np.int64) if labels is None
         else np.asarray(to_numpy(labels.data if isinstance(labels, Tensor) else labels)))
    if y.shape != (len(x),) or y.dtype.kind not in 'iu':
        raise ValueError(f"save_scatter: labels must be integers of shape ({len(x)},), "
                         f"got {y.dtype} of shape {y.shape}")
    ax = Axes((size, size), _limits(x[:, 0]), _limits(x[:, 1]), title=title, equal=True)
    for k in np.unique(y):
        ax.dots(x[y == k, 0], x[y == k, 1], color(int(k)), radius)
    if class_names is not None:
        ax.legend(list(class_names), [color(i) for i in range(len(class_names))])
    ax.save(path)


def save_bubbles(points, radii, labels, path, title=None, xlabel=None, ylabel=None,
                 size=(560, 480)):
    """A labelled bubble chart: point i at points[i] (x, y) drawn as a disc of radius
    radii[i] pixels in the i-th colour, with labels[i] written beside it (the trilemma
    picture: quality against coverage, area for speed). Axes start at 0 and end at 1 or
    the largest value, whichever is larger."""
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0 or not np.isfinite(x).all():
        raise ValueError(f"save_bubbles: expected finite points of shape (N, 2), N >= 1, "
                         f"got shape {x.shape}")
    if len(radii) != len(x) or len(labels) != len(x):
        raise ValueError(f"save_bubbles: {len(x)} points need as many radii and labels, got "
                         f"{len(radii)} and {len(labels)}")
    lim = lambda v: (min(0.0, float(v.min())), max(1.0, float(v.max())) * 1.05)
    ax = Axes(size, lim(x[:, 0]), lim(x[:, 1]), title=title, xlabel=xlabel, ylabel=ylabel)
    for i, ((u, v), r) in enumerate(zip(x, radii)):
        ax.dots([u], [v], color(i), r)
        pu, pv = float(ax.px(u, v)[0]), float(ax.px(u, v)[1])
        room = ax.right - pu - (r + 4) * SS       # a label that would leave the frame goes left
        left = ax.small.getlength(str(labels[i])) > room
        ax.draw.text((pu - (r + 4) * SS if left else pu + (r + 4) * SS, pv), str(labels[i]),
                     fill=INK, font=ax.small, anchor='rm' if left else 'lm')
    ax.save(path)
