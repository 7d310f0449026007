"""Held-out compositions of the shapes data: (shape, colour) pairs a model never sees in
training, to measure whether it composes attributes it learnt apart ("a red triangle"
when it saw red things and triangles, never the two together).

    HELD_OUT_PAIRS       the fixed list the text2img demo leaves out
    held_out_mask(attrs) True where an image's (first) object is one of the pairs
    split_compositions   a ShapesData cut in two: without the pairs, and only the pairs
"""
import numpy as np

from .shapes import COLORS, SHAPES

# one pair per shape and per colour, so every shape and every colour is still seen
HELD_OUT_PAIRS = (('triangle', 'red'), ('circle', 'blue'), ('square', 'green'),
                  ('diamond', 'yellow'), ('cross', 'purple'))


def held_out_mask(attrs, pairs=HELD_OUT_PAIRS):
    """(N,) bool: the images whose object has a (shape, colour) in `pairs`, or whose
    second object has (attrs 'shape_2' / 'color_2', when present)."""
    codes = [SHAPES.index(s) * len(COLORS) + COLORS.index(c) for s, c in pairs]
    mask = np.isin(np.asarray(attrs['shape']) * len(COLORS) + np.asarray(attrs['color']), codes)
    if 'shape_2' in attrs:
        second = np.asarray(attrs['shape_2']) * len(COLORS) + np.asarray(attrs['color_2'])
        mask |= (np.asarray(attrs['shape_2']) >= 0) & np.isin(second, codes)
    return mask


def split_compositions(data, pairs=HELD_OUT_PAIRS):
    """(the images without any held-out pair, the images with one), both ShapesData."""
    mask = held_out_mask(data.attrs, pairs)
    return data.take(np.flatnonzero(~mask)), data.take(np.flatnonzero(mask))
