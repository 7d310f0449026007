import numpy as np

from minigen.data.compositions import HELD_OUT_PAIRS, held_out_mask, split_compositions
from minigen.data.shapes import COLORS, SHAPES, make_shapes


def test_split_keeps_every_image_once_and_no_pair_in_the_kept_part():
    data = make_shapes(600, size=16, seed=3, two_object_prob=0.3)
    kept, held = split_compositions(data)
    assert len(kept.images) + len(held.images) == 600 and len(held.images) > 0
    pairs = {(SHAPES.index(s), COLORS.index(c)) for s, c in HELD_OUT_PAIRS}
    assert not {(s, c) for s, c in zip(kept.attrs['shape'], kept.attrs['color'])} & pairs
    assert not held_out_mask(kept.attrs).any() and held_out_mask(held.attrs).all()
    for s, c in HELD_OUT_PAIRS:
        assert not any(f'{c} {s}' in text for text in kept.captions)
    assert len(kept.captions) == len(kept.images) == len(kept.attrs['shape'])


def test_every_shape_and_colour_is_still_seen():
    kept, _ = split_compositions(make_shapes(2000, size=16, seed=0))
    assert set(np.unique(kept.attrs['shape'])) == set(range(len(SHAPES)))
    assert set(np.unique(kept.attrs['color'])) == set(range(len(COLORS)))
