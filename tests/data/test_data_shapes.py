"""The shapes data set: deterministic, fast, and its pictures show what their labels say;
its masks are the objects' coverage and its outlines the masks' boundaries."""
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minigen.data.shapes import (make_shapes, make_shapes_of_sizes, caption, VOCAB, WORDS,
                                 RGB, SIZES)


def _object_pixels(image):
    """Mask of the pixels that differ from the (plain) background, and that colour."""
    flat = image.reshape(3, -1).T
    colors, counts = np.unique(flat, axis=0, return_counts=True)
    background = colors[counts.argmax()]
    distance = np.abs(image - background[:, None, None]).max(0)
    return distance > 0.02, distance, background


def test_images_are_float32_nchw_in_unit_range_with_int_labels():
    d = make_shapes(50, size=24, seed=1)
    assert d.images.shape == (50, 3, 24, 24) and d.images.dtype == np.float32
    assert 0 <= d.images.min() and d.images.max() <= 1
    for k, names in VOCAB.items():
        assert d.attrs[k].dtype == np.int64 and d.attrs[k].shape == (50,)
        assert d.attrs[k].min() >= 0 and d.attrs[k].max() < len(names)
    assert d.vocab is VOCAB and len(d.captions) == 50


def test_same_seed_gives_identical_data_and_another_seed_differs():
    a, b, c = make_shapes(64, seed=7, two_object_prob=0.5), make_shapes(64, seed=7, two_object_prob=0.5), \
        make_shapes(64, seed=8, two_object_prob=0.5)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.captions == b.captions and all((a.attrs[k] == b.attrs[k]).all() for k in a.attrs)
    assert not np.array_equal(a.images, c.images) and a.captions != c.captions


def test_vocabulary_meets_the_issue_minimums():
    assert len(VOCAB['shape']) >= 4 and len(VOCAB['color']) >= 6
    assert set(VOCAB['size']) == {'small', 'large'} and len(VOCAB['position']) >= 5
    assert {'circle', 'square', 'triangle'} <= set(VOCAB['shape'])


def test_captions_are_built_from_the_attributes_and_known_words():
    d = make_shapes(300, seed=2, two_object_prob=0.5)
    for i, text in enumerate(d.captions):
        first = caption(*(d.attrs[k][i] for k in VOCAB))
        if d.attrs['n_objects'][i] == 2:
            assert text == first + ' and ' + caption(*(d.attrs[k + '_2'][i] for k in VOCAB))
        else:
            assert text == first and all(d.attrs[k + '_2'][i] == -1 for k in VOCAB)
        assert set(text.split()) <= set(WORDS)
    assert caption('circle', 'red', 'large', 'top left') == 'a large red circle in the top left'
    assert caption(0, 0, 0, 4) == 'a small red circle in the center'


def test_two_object_fraction_follows_the_probability_and_objects_sit_apart():
    d = make_shapes(2000, seed=3, two_object_prob=0.3)
    assert abs((d.attrs['n_objects'] == 2).mean() - 0.3) < 0.04
    both = make_shapes(200, seed=4, two_object_prob=1.0).attrs
    assert (both['position'] != both['position_2']).all()   # they never touch, so never share a cell
    assert (make_shapes(100, seed=4).attrs['n_objects'] == 1).all()


@settings(max_examples=8)
@given(seed=st.integers(0, 2 ** 32 - 1), size=st.sampled_from([24, 32, 48]))
def test_drawn_object_centroid_colour_and_area_match_its_labels(seed, size):
    d = make_shapes(60, size=size, seed=seed, texture=0.0)
    cell = np.array([0.375, 0.625])
    areas = {}
    for i in range(60):
        mask, distance, _ = _object_pixels(d.images[i])
        weight = np.clip(distance / distance.max(), 0, 1) * mask      # ~ coverage alpha
        rows, cols = np.mgrid[:size, :size] + 0.5
        cy, cx = (weight * rows).sum() / weight.sum() / size, (weight * cols).sum() / weight.sum() / size
        position = 3 * np.searchsorted(cell, cy) + np.searchsorted(cell, cx)
        assert position == d.attrs['position'][i], (i, d.captions[i], cx, cy)
        core = d.images[i][:, distance == distance.max()].mean(1)    # a fully covered pixel
        assert np.argmin(((RGB - core) ** 2).sum(1)) == d.attrs['color'][i], d.captions[i]
        areas.setdefault(d.attrs['shape'][i], []).append((weight.sum() / size ** 2, d.attrs['size'][i]))
    for pairs in areas.values():  # within one shape, every large object outsizes every small one
        small = [a for a, s in pairs if s == 0]
        large = [a for a, s in pairs if s == 1]
        if small and large:
            assert max(small) < min(large)


@pytest.mark.parametrize('sizes', [('large',), ('small',), SIZES])
def test_shapes_of_sizes_keeps_exactly_n_objects_of_those_sizes(sizes):
    d = make_shapes_of_sizes(300, sizes, size=16, seed=3)
    assert d.images.shape == (300, 3, 16, 16) and len(d.captions) == 300
    kept = {SIZES[i] for i in np.unique(d.attrs['size'])}
    assert kept == set(sizes)  # only those sizes, and (over 300 draws) each of them
    again = make_shapes_of_sizes(300, sizes, size=16, seed=3)
    np.testing.assert_array_equal(again.images, d.images)  # deterministic in the seed


def test_plain_background_is_one_colour_and_textured_one_varies():
    plain = make_shapes(20, seed=5, texture=0.0).images
    textured = make_shapes(20, seed=5, texture=0.3).images
    for img in plain:
        mask, _, _ = _object_pixels(img)
        assert mask.mean() < 0.5            # the background is one colour: the commonest
    corner_std = textured[:, :, :6, :6].reshape(20, -1).std(1)
    assert (corner_std > 1e-3).mean() > 0.5


def test_ten_thousand_images_are_drawn_without_a_loop_over_pixels():
    """A few seconds when vectorised; a Python loop over the 30 million pixels would take
    minutes. The bound is loose on purpose: a loaded CI machine must not fail on timing."""
    start = time.perf_counter()
    make_shapes(10_000, seed=0)
    assert time.perf_counter() - start < 60.0


def test_masks_and_outlines_are_extra_and_leave_the_images_unchanged():
    plain, masked = make_shapes(40, seed=6, two_object_prob=0.5), \
        make_shapes(40, seed=6, two_object_prob=0.5, with_masks=True)
    assert plain.masks is None and plain.outlines is None
    np.testing.assert_array_equal(plain.images, masked.images)
    assert plain.captions == masked.captions
    for a in (masked.masks, masked.outlines):
        assert a.shape == (40, 1, 32, 32) and a.dtype == np.float32
    assert 0 <= masked.masks.min() and masked.masks.max() <= 1
    assert set(np.unique(masked.outlines)) <= {0.0, 1.0}


@settings(max_examples=5)
@given(seed=st.integers(0, 2 ** 32 - 1), size=st.sampled_from([16, 24, 32]))
def test_mask_covers_exactly_the_pixels_that_differ_from_the_background(seed, size):
    """Plain backgrounds: the mask is > 0 exactly where the image is not the background
    colour, and a one-object image is (1 - mask) background + mask rgb, the compositing
    of the module docstring, with rgb read off the most covered pixel."""
    d = make_shapes(40, size=size, seed=seed, two_object_prob=0.4, texture=0.0, with_masks=True)
    for i in range(40):
        _, distance, background = _object_pixels(d.images[i])
        m = d.masks[i, 0]
        np.testing.assert_array_equal(m > 0, distance > 0, err_msg=d.captions[i])
        if d.attrs['n_objects'][i] == 1:
            y, x = np.unravel_index(m.argmax(), m.shape)           # image = bg + m (rgb - bg)
            rgb = background + (d.images[i][:, y, x] - background) / m[y, x]
            composite = (1 - m) * background[:, None, None] + m * rgb[:, None, None]
            np.testing.assert_allclose(d.images[i], composite, atol=2e-6, err_msg=d.captions[i])


def test_outline_is_the_boundary_of_the_silhouette():
    """Checked pixel by pixel (a loop here, to be independent of the module's shifts):
    outline pixels are the silhouette's pixels (mask >= 1/2) with a 4-neighbour outside
    it or on the image border; what remains of the silhouette touches nothing outside."""
    d = make_shapes(12, size=24, seed=9, two_object_prob=0.5, with_masks=True)
    for i in range(12):
        inside = d.masks[i, 0] >= 0.5
        want = np.zeros_like(inside)
        for y in range(24):
            for x in range(24):
                neighbours = [(y + dy, x + dx) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
                outside = [not (0 <= v < 24 and 0 <= u < 24 and inside[v, u]) for v, u in neighbours]
                want[y, x] = inside[y, x] and any(outside)
        np.testing.assert_array_equal(d.outlines[i, 0] == 1, want, err_msg=d.captions[i])
        assert want.sum() >= 8 * d.attrs['n_objects'][i]   # a closed curve round each object
        assert (inside & ~want).any()                        # with an interior


@pytest.mark.parametrize('kwargs', [dict(n=-1), dict(n=2.5), dict(n=4, size=4),
                                    dict(n=4, two_object_prob=1.5), dict(n=4, texture=-0.1)])
def test_bad_arguments_raise_a_clear_error(kwargs):
    with pytest.raises(ValueError, match='make_shapes'):
        make_shapes(**kwargs)

