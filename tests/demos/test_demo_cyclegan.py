"""demos/cyclegan.py: the two shapes domains hold only their colour family and are drawn
apart; MNIST's Y is the inverse of other digits than X's; the perturbations are small; the
figures read an identity map as "nothing moved" and the inverse map on MNIST as every digit
kept; a steganographic pair (x hidden at amplitude 1e-3) passes the clean cycle and fails
the perturbed one; a tiny run writes every promised file and --steps 0 --resume evaluates
the saved run again."""
import json

import numpy as np
import pytest
from PIL import Image

from demos.cyclegan import (COOL, WARM, colour_family, evaluate, load_task, main,
                            perturbations)
from minigen.data.shapes import COLORS
from tests.demos.test_demo_conventions import HAS_MNIST, MNIST_ROOT

TINY = ['--steps', '3', '--batch-size', '4', '--ngf', '4', '--ndf', '4', '--n-train', '16',
        '--n-held', '8']
needs_mnist = pytest.mark.skipif(not HAS_MNIST, reason=f'MNIST not found in {MNIST_ROOT}')


def test_shapes_domains_hold_one_colour_family_each_and_are_not_paired():
    x, y, hx, hy, ax, ay = load_task('shapes', 40, 20, seed=1)
    assert x.shape == y.shape == (40, 3, 32, 32) and hx.shape == (20, 3, 32, 32)
    assert set(COLORS[c] for c in ax['color']) <= set(WARM)
    assert set(COLORS[c] for c in ay['color']) <= set(COOL) and not set(WARM) & set(COOL)
    _, attrs = colour_family(40, WARM, seed=1)
    _, other = colour_family(40, COOL, seed=2)
    assert (attrs['position'] != other['position']).any()        # separate draws


@needs_mnist
def test_mnist_y_is_the_inverse_of_other_digits_padded_to_32():
    x, y, hx, hy, lx, ly = load_task('mnist', 50, 20, seed=0)
    assert x.shape == y.shape == (50, 1, 32, 32) and len(hx) == len(lx) == 20
    assert (x[:, :, :2] == 0).all() and (y[:, :, :2] == 1).all()   # the padded border
    assert not any(np.array_equal(1 - b, a) for a in x for b in y)  # no pair is shared


def test_perturbations_are_small_and_keep_a_flat_image():
    rng = np.random.default_rng(0)
    a = rng.random((3, 3, 32, 32)).astype(np.float32)
    for name, b in perturbations(a, rng).items():
        assert b.shape == a.shape and 0 <= b.min() and b.max() <= 1, name
    moved = perturbations(a, rng)
    assert np.abs(moved['quantise_8bit'] - a).max() <= 0.5 / 255 + 1e-7
    np.testing.assert_allclose(moved['quantise_8bit'] * 255, np.round(a * 255), atol=1e-4)
    assert 0.01 < np.abs(moved['noise_0.02'] - a).mean() < 0.03
    flat = np.full((1, 3, 8, 8), 0.3)
    np.testing.assert_allclose(perturbations(flat, rng)['blur_121'], flat)


def test_identity_map_moves_no_colour_and_keeps_shape_size_position():
    _, _, hx, _, ax, _ = load_task('shapes', 1, 60, seed=2)
    out, fake = evaluate('shapes', lambda name, a: a, hx, ax, np.random.default_rng(0),
                         'x_to_y')
    np.testing.assert_array_equal(fake, hx)
    assert out['cycle_ssim'] == pytest.approx(1) and out['colour_moved'] == 0
    assert out['shape_size_position'] > 0.9 and out['joint'] == 0
    assert out['source_recovered']['quantise_8bit'] == 1


def test_hidden_input_passes_the_clean_cycle_and_fails_the_perturbed_one():
    """G(x) = a fixed cool image + 1e-3 x, F its exact inverse: steganography."""
    _, y, hx, _, ax, _ = load_task('shapes', 1, 40, seed=3)
    cover = y[:1]
    maps = {'G': lambda a: cover + 1e-3 * a, 'F': lambda a: np.clip((a - cover) / 1e-3, 0, 1)}
    out, _ = evaluate('shapes', lambda name, a: maps[name](a).astype(np.float32), hx, ax,
                      np.random.default_rng(0), 'x_to_y')
    assert out['cycle_ssim'] > 0.99 and out['source_recovered']['clean'] > 0.95
    assert out['cycle_ssim_noise_0.02'] < 0.3 and out['cycle_ssim_quantise_8bit'] < 0.6
    assert out['source_recovered']['noise_0.02'] < 0.7


@needs_mnist
def test_inversion_keeps_every_digit_the_classifier_reads():
    _, _, hx, hy, lx, ly = load_task('mnist', 1, 50, seed=0)
    invert = lambda name, a: 1 - a
    for held, labels, direction in ((hx, lx, 'x_to_y'), (hy, ly, 'y_to_x')):
        out, _ = evaluate('mnist', invert, held, labels, np.random.default_rng(0), direction)
        assert out['cycle_ssim'] == pytest.approx(1) and out['digit_kept'] > 0.9, direction
        assert out['source_recovered']['blur_121'] > 0.8


def test_tiny_run_writes_every_output_and_evaluates_again_on_resume(tmp_path):
    metrics = main(TINY + ['--out', str(tmp_path)])
    for name in ('translations.png', 'steganography.png', 'loss.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 60
    samples = np.load(tmp_path / 'samples.npy')
    assert samples.shape == (8, 3, 32, 32) and samples.dtype == np.float32
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['step'] == 3 and saved == json.loads(json.dumps(metrics))
    for direction in ('x_to_y', 'y_to_x'):
        assert {'cycle_ssim', 'shape_size_position', 'colour_moved', 'joint',
                'cycle_ssim_noise_0.02'} <= set(saved[direction])
    again = main(['--steps', '0', '--resume'] + TINY[2:] + ['--out', str(tmp_path)])
    assert again['step'] == 3 and again['x_to_y'] == metrics['x_to_y']
