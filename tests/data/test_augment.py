"""Augmentations: the invariants each operator promises, on CPU and GPU."""
from functools import partial

import numpy as np
import pytest
from hypothesis import given, strategies as st

from autograd import backend
from minigen.data import augment as A

LUMA = np.array(A.LUMA)


def images(device, n=6, c=3, h=16, w=16, seed=0, lo=0.0, hi=1.0):
    x = np.random.default_rng(seed).uniform(lo, hi, (n, c, h, w)).astype(np.float32)
    return backend.xp_for(device).asarray(x)


def np_(x):
    return backend.to_numpy(x)


RANDOM_OPS = {
    'random_resized_crop': A.random_resized_crop,
    'random_resized_crop_to_8': partial(A.random_resized_crop, size=8),
    'random_salient_crop': A.random_salient_crop,
    'random_salient_crop_to_8': partial(A.random_salient_crop, size=8, scale=(0.1, 0.3)),
    'random_hflip': A.random_hflip,
    'color_jitter': A.color_jitter,
    'random_grayscale': A.random_grayscale,
    'random_gaussian_blur': A.random_gaussian_blur,
    'random_rot90': A.random_rot90,
    'random_cutout': A.random_cutout,
    'gaussian_noise': A.gaussian_noise,
    'random_sobel': A.random_sobel,
    'simclr_augment': A.simclr_augment(),
}


@pytest.mark.parametrize('name', RANDOM_OPS)
@pytest.mark.parametrize('channels', [1, 3])
def test_every_operator_keeps_device_dtype_range_and_repeats_by_seed(device, name, channels):
    op = RANDOM_OPS[name]
    x = images(device, n=8, c=channels)
    out = op(x, 5)
    assert backend.device_of(out) == device and out.dtype == np.float32
    assert out.shape == ((8, channels, 8, 8) if name.endswith('to_8') else x.shape)
    assert 0 <= float(out.min()) and float(out.max()) <= 1
    np.testing.assert_array_equal(np_(out), np_(op(x, 5)))
    np.testing.assert_array_equal(np_(x), np_(images(device, n=8, c=channels)))  # input untouched
    if name not in ('random_sobel', 'random_grayscale') or channels == 3:  # else no-ops
        assert not np.array_equal(np_(op(x, 5)), np_(op(x, 6)))


def test_views_are_the_same_on_cpu_and_gpu_for_one_seed(device):
    cpu = A.simclr_augment()(images('cpu'), 3)
    np.testing.assert_allclose(np_(A.simclr_augment()(images(device), 3)), cpu, atol=1e-5)


@pytest.mark.parametrize('op', [A.random_hflip, A.grayscale, A.sobel, A.adjust_hue])
def test_bad_input_names_the_operator_and_shape(op):
    x = np.zeros((4, 16, 16), np.float32)
    with pytest.raises(ValueError, match=rf'{op.__name__}: expected float images .*\(4, 16, 16\)'):
        op(x, 0) if op in (A.random_hflip, A.adjust_hue) else op(x)


# --- geometry ------------------------------------------------------------------------
@given(box=st.tuples(st.floats(0.5, 5), st.floats(0.5, 5), st.floats(2, 10), st.floats(2, 10)),
       size=st.tuples(st.integers(1, 12), st.integers(1, 12)), a=st.floats(-1, 1), b=st.floats(-1, 1))
def test_bilinear_crop_of_an_affine_image_is_exactly_affine(box, size, a, b):
    i, j = np.mgrid[:16, :16].astype(np.float64)
    x = (a * i + b * j + 0.25)[None, None]   # bilinear reproduces affine functions (box inside)
    top, left, bh, bw = box
    out = A.resized_crop(x, np.array([box]), size)[0, 0]
    ys = top + (np.arange(size[0]) + 0.5) * bh / size[0] - 0.5
    xs = left + (np.arange(size[1]) + 0.5) * bw / size[1] - 0.5
    np.testing.assert_allclose(out, a * ys[:, None] + b * xs[None, :] + 0.25, atol=1e-9)


def test_saliency_is_the_distance_from_the_median_colour():
    x = np.random.default_rng(0).random((3, 3, 5, 7)).astype(np.float32)
    m = np.median(x.reshape(3, 3, -1), axis=2)[:, :, None, None]
    np.testing.assert_allclose(A.saliency(x), np.sqrt(((x - m) ** 2).sum(1)), rtol=1e-6)


def test_salient_crops_land_on_the_one_object_uniform_ones_often_miss(device):
    """A 2x2 white block on black: every small salient crop holds part of it, where a
    uniform crop of the same size misses it most of the time."""
    x = np.zeros((64, 3, 16, 16), np.float32)
    x[:, :, 11:13, 2:4] = 1.0
    x = backend.xp_for(device).asarray(x)
    kw = dict(size=6, scale=(0.1, 0.15), ratio=(1, 1))
    salient = np_(A.random_salient_crop(x, 0, **kw)).max(axis=(1, 2, 3))
    uniform = np_(A.random_resized_crop(x, 0, **kw)).max(axis=(1, 2, 3))
    assert np.all(salient > 0.2) and np.mean(uniform > 0.2) < 0.5


def test_salient_crop_of_a_flat_image_is_a_plain_crop():
    x = np.full((4, 1, 8, 8), 0.3, np.float32)
    np.testing.assert_allclose(A.random_salient_crop(x, 2, size=4, scale=(0.2, 0.5)), 0.3,
                               rtol=1e-6)


def _objects_and_bank(n=8, c=3, side=8, seed=0):
    """Images whose left half is the object (mask 1, or 0.5 on one column) and a bank of
    backgrounds whose pixels all lie in [0.6, 0.7]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.3, (n, c, side, side)).astype(np.float32)
    masks = np.zeros((n, 1, side, side), np.float32)
    masks[..., :side // 2] = 1.0
    masks[..., side // 2] = 0.5
    bank = rng.uniform(0.6, 0.7, (3, c, side, side)).astype(np.float32)
    return x, masks, bank


def test_replace_background_keeps_the_object_and_mixes_the_edge_by_its_coverage():
    x, masks, bank = _objects_and_bank()
    b = np.broadcast_to(bank[:1], x.shape)
    out = A.replace_background(x, masks, b)
    np.testing.assert_array_equal(out[..., :4], x[..., :4])               # m = 1: the object
    np.testing.assert_array_equal(out[..., 5:], b[..., 5:])               # m = 0: the new one
    np.testing.assert_allclose(out[..., 4], 0.5 * (x[..., 4] + b[..., 4]), rtol=1e-6)
    with pytest.raises(ValueError, match=r'replace_background: images \(8, 3, 8, 8\) need masks'):
        A.replace_background(x, masks[:, :, :4], b)


def test_random_background_draws_from_the_bank_per_image_and_p0_is_identity(device):
    x, masks, bank = _objects_and_bank(n=32)
    xd = backend.xp_for(device).asarray(x)
    out = np_(A.random_background(xd, 1, masks, bank))
    np.testing.assert_array_equal(out[..., :4], x[..., :4])
    assert np.all((out[..., 5:] >= 0.6) & (out[..., 5:] <= 0.7))
    picked = {int(np.argmin(np.abs(bank[:, :, :, 5:] - o[None, :, :, 5:]).sum((1, 2, 3))))
              for o in out}
    assert picked == {0, 1, 2}                                # each image draws its own
    np.testing.assert_array_equal(np_(A.random_background(xd, 1, masks, bank)), out)
    np.testing.assert_array_equal(np_(A.random_background(xd, 1, masks, bank, p=0.0)), x)


def test_crop_of_the_whole_image_at_full_scale_is_the_identity(device):
    x = images(device, h=12, w=12)
    np.testing.assert_array_equal(np_(A.random_resized_crop(x, 0, scale=(1, 1), ratio=(1, 1))), np_(x))


def test_crops_interpolate_within_each_image_range(device):
    x = images(device, n=20, lo=0.3, hi=0.6)
    out = np_(A.random_resized_crop(x, 1, size=(20, 24)))
    assert out.shape == (20, 3, 20, 24) and out.min() >= 0.3 - 1e-6 and out.max() <= 0.6 + 1e-6


def test_flip_probability_zero_is_identity_one_mirrors_half_does_half(device):
    x = images(device, n=400, h=4, w=4)
    np.testing.assert_array_equal(np_(A.random_hflip(x, 0, p=0.0)), np_(x))
    np.testing.assert_array_equal(np_(A.random_hflip(x, 0, p=1.0)), np_(x)[..., ::-1])
    flipped = (np_(A.random_hflip(x, 0)) != np_(x)).any(axis=(1, 2, 3))
    assert 0.42 < flipped.mean() < 0.58


def test_rot90_by_k_then_by_four_minus_k_is_the_identity(device):
    x = images(device, n=4)
    k = np.array([0, 1, 2, 3])
    np.testing.assert_array_equal(np_(A.rot90(A.rot90(x, k), 4 - k)), np_(x))
    np.testing.assert_array_equal(np_(A.rot90(x, k))[1], np.rot90(np_(x)[1], 1, axes=(1, 2)))
    out = np_(A.random_rot90(x, 0))
    for n in range(4):
        assert any(np.array_equal(out[n], np.rot90(np_(x)[n], j, axes=(1, 2))) for j in range(4))
    with pytest.raises(ValueError, match='square'):
        A.rot90(images(device, w=8), k)


def test_cutout_zeroes_one_square_and_leaves_the_rest(device):
    x = images(device, n=50, h=20, w=20, lo=0.1)
    out = np_(A.random_cutout(x, 2, side=(0.2, 0.4)))
    for n in range(50):
        hole = out[n, 0] != np_(x)[n, 0]
        assert np.all(out[n][:, hole] == 0) and np.array_equal(out[n][:, ~hole], np_(x)[n][:, ~hole])
        rows, cols = hole.any(1), hole.any(0)
        assert np.array_equal(hole, rows[:, None] & cols[None, :])   # a rectangle
        assert rows.sum() <= 9 and cols.sum() <= 9                  # side <= 0.4 x 20 (+1)
        if rows.sum() and 0 < np.flatnonzero(rows)[0] and np.flatnonzero(rows)[-1] < 19 and \
                0 < np.flatnonzero(cols)[0] and np.flatnonzero(cols)[-1] < 19:
            assert abs(int(rows.sum()) - int(cols.sum())) <= 1      # uncut by the border: square


# --- colour --------------------------------------------------------------------------
def luma(x):
    return np.tensordot(LUMA, np_(x), axes=([0], [1]))


def test_color_jitter_of_zero_strength_is_the_identity(device):
    x = images(device, n=32)
    out = A.color_jitter(x, 0, brightness=0, contrast=0, saturation=0, hue=0, p=1.0)
    np.testing.assert_allclose(np_(out), np_(x), atol=2e-6)
    np.testing.assert_array_equal(np_(A.color_jitter(x, 0, p=0.0)), np_(x))


@given(f=st.floats(0.0, 2.0))
def test_brightness_scales_every_pixel(f):
    x = images('cpu', lo=0, hi=0.5)
    np.testing.assert_allclose(A.adjust_brightness(x, f), x * np.float32(f), rtol=1e-6)


@given(f=st.floats(0.0, 1.0))
def test_contrast_keeps_the_mean_luma_and_scales_deviations(f):
    x = images('cpu', lo=0.2, hi=0.8)
    out = A.adjust_contrast(x, f)
    np.testing.assert_allclose(luma(out).mean((1, 2)), luma(x).mean((1, 2)), atol=1e-5)
    m = luma(x).mean((1, 2))[:, None, None, None]
    np.testing.assert_allclose(out - m, f * (x - m), atol=1e-5)


@given(f=st.floats(0.0, 1.0))
def test_saturation_keeps_every_pixel_luma_and_zero_gives_gray(f):
    x = images('cpu')
    np.testing.assert_allclose(luma(A.adjust_saturation(x, f)), luma(x), atol=1e-5)
    np.testing.assert_allclose(A.adjust_saturation(x, 0.0), A.grayscale(x), atol=1e-6)


def test_grayscale_gives_equal_channels_preserving_luma(device):
    x = images(device)
    g = np_(A.grayscale(x))
    assert np.all(g[:, 0] == g[:, 1]) and np.all(g[:, 1] == g[:, 2])
    np.testing.assert_allclose(g[:, 0], luma(x), atol=1e-6)
    np.testing.assert_array_equal(np_(A.random_grayscale(x, 0, p=1.0)), g)
    np.testing.assert_array_equal(np_(A.random_grayscale(x, 0, p=0.0)), np_(x))


def test_hue_shift_of_zero_and_one_turn_is_the_identity(device):
    x = images(device)
    for turn in (0.0, 1.0, -1.0):
        np.testing.assert_allclose(np_(A.adjust_hue(x, turn)), np_(x), atol=2e-6)


@given(h1=st.floats(-1, 1), h2=st.floats(-1, 1))
def test_hue_shifts_compose_and_keep_saturation_and_value(h1, h2):
    x = images('cpu', n=3, h=6, w=6)
    one_go, two_steps = A.adjust_hue(x, h1 + h2), A.adjust_hue(A.adjust_hue(x, h1), h2)
    np.testing.assert_allclose(one_go, two_steps, atol=1e-5)
    _, s0, v0 = A.rgb_to_hsv(x)
    _, s1, v1 = A.rgb_to_hsv(one_go)
    np.testing.assert_allclose(s1, s0, atol=1e-5)
    np.testing.assert_allclose(v1, v0, atol=1e-5)


def test_a_third_of_a_turn_takes_red_to_green_to_blue():
    rgb = np.eye(3, dtype=np.float32)[:, :, None, None]          # pure red, green, blue
    np.testing.assert_allclose(A.adjust_hue(rgb, 1 / 3), rgb[[1, 2, 0]], atol=1e-6)
    h, s, v = A.rgb_to_hsv(np.array([[[[1.0]], [[0.5]], [[0.0]]]], np.float32))  # orange
    np.testing.assert_allclose([h.item(), s.item(), v.item()], [30 / 360, 1, 1], atol=1e-6)


# --- filters -------------------------------------------------------------------------
def blur_reference(image, sigma, k):
    """A plain 2-D correlation with the outer-product Gaussian kernel, reflect padding."""
    j = np.arange(k) - k // 2
    w = np.exp(-j ** 2 / (2 * sigma ** 2))
    kernel = np.outer(w, w) / w.sum() ** 2
    p = np.pad(image, [(0, 0), (k // 2, k // 2), (k // 2, k // 2)], mode='reflect')
    h, width = image.shape[1:]
    return sum(kernel[a, b] * p[:, a:a + h, b:b + width] for a in range(k) for b in range(k))


@given(sigma=st.floats(0.3, 3.0), k=st.sampled_from([3, 5, 7]))
def test_separable_blur_equals_the_2d_gaussian_convolution(sigma, k):
    x = images('cpu', n=2, h=10, w=12).astype(np.float64)
    out = A.gaussian_blur(x, np.array([sigma, 2 * sigma]), kernel_size=k)
    np.testing.assert_allclose(out[0], blur_reference(x[0], sigma, k), atol=1e-12)
    np.testing.assert_allclose(out[1], blur_reference(x[1], 2 * sigma, k), atol=1e-12)


def test_blur_keeps_constants_shrinks_variance_and_tiny_sigma_is_identity(device):
    xp = backend.xp_for(device)
    flat = xp.full((2, 3, 16, 16), 0.3, dtype=xp.float32)
    np.testing.assert_allclose(np_(A.gaussian_blur(flat, 1.5)), 0.3, atol=1e-6)
    x = images(device)
    assert np_(A.gaussian_blur(x, 1.5)).var() < 0.5 * np_(x).var()
    np.testing.assert_allclose(np_(A.gaussian_blur(x, 0.1)), np_(x), atol=1e-6)
    assert A.gaussian_blur(images(device, h=64, w=64), 1.0).shape == (6, 3, 64, 64)
    with pytest.raises(ValueError, match='kernel_size must be odd'):
        A.gaussian_blur(x, 1.0, kernel_size=4)


def test_sobel_matches_the_3x3_kernels_and_maps_into_unit_range(device):
    x = images(device, n=3, h=9, w=11)
    y = np.pad(luma(x), [(0, 0), (1, 1), (1, 1)], mode='edge')
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    gx = sum(kx[a, b] * y[:, a:a + 9, b:b + 11] for a in range(3) for b in range(3))
    gy = sum(kx.T[a, b] * y[:, a:a + 9, b:b + 11] for a in range(3) for b in range(3))
    expected = np.sqrt(gx ** 2 + gy ** 2) / (4 * np.sqrt(2))
    out = np_(A.sobel(x))
    for c in range(3):
        np.testing.assert_allclose(out[:, c], expected, atol=1e-5)
    step = np.zeros((1, 1, 4, 8), np.float32)
    step[..., 4:] = 1                                             # a vertical edge 0 -> 1
    np.testing.assert_allclose(A.sobel(step)[0, 0, :, 3:5], 1 / np.sqrt(2), atol=1e-6)
    assert A.sobel(np.ones((1, 3, 5, 5), np.float32)).max() == 0


def test_gaussian_noise_has_the_drawn_standard_deviation(device):
    xp = backend.xp_for(device)
    x = xp.full((4, 3, 64, 64), 0.5, dtype=xp.float32)
    out = np_(A.gaussian_noise(x, 0, sigma=(0.05, 0.05)))
    assert abs(out.mean() - 0.5) < 2e-3 and abs(out.std() - 0.05) < 2e-3
    np.testing.assert_array_equal(np_(A.gaussian_noise(x, 0, sigma=(0.0, 0.0))), np_(x))


# --- pipelines -----------------------------------------------------------------------
def test_compose_applies_its_transforms_in_turn_from_one_generator(device):
    x = images(device)
    pipeline = A.Compose([A.random_hflip, partial(A.color_jitter, p=1.0)])
    rng = np.random.default_rng(9)
    by_hand = A.color_jitter(A.random_hflip(x, rng), rng, p=1.0)
    np.testing.assert_array_equal(np_(pipeline(x, 9)), np_(by_hand))
    np.testing.assert_array_equal(np_(A.Compose([])(x, 0)), np_(x))


def test_simclr_two_views_of_one_batch_differ():
    x = images('cpu', n=16)
    rng = np.random.default_rng(0)
    pipeline = A.simclr_augment(size=12, strength=0.5, blur=False)
    v1, v2 = pipeline(x, rng), pipeline(x, rng)
    assert v1.shape == (16, 3, 12, 12) and not np.allclose(v1, v2)
