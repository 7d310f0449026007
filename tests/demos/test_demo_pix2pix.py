"""demos/pix2pix.py: the input carries the target's outline in its colours on its
background; edge sharpness is 1 for the target and falls with blur; a tiny run writes
every promised file, and --steps 0 --resume evaluates the saved run again."""
import json

import numpy as np
from PIL import Image

from demos.pix2pix import edge_sharpness, main, outline_pairs
from minigen.data.shapes import make_shapes

TINY = ['--steps', '3', '--batch-size', '4', '--ngf', '4', '--ndf', '4', '--n-train', '16',
        '--n-held', '8']


def test_input_is_the_outline_in_the_targets_colours_on_its_background():
    x, y = outline_pairs(20, seed=3)
    d = make_shapes(20, size=32, seed=3, texture=0.0, with_masks=True)
    np.testing.assert_array_equal(y, d.images)
    on = np.broadcast_to(d.outlines == 1, x.shape)
    np.testing.assert_allclose(x[on], y[on], atol=1e-6)           # the outline: y's colours
    off = np.broadcast_to(d.masks == 0, x.shape)
    np.testing.assert_allclose(x[off], y[off], atol=1e-6)         # the background: y's
    inside = np.broadcast_to((d.masks == 1) & (d.outlines == 0), x.shape)
    assert np.abs(x[inside] - y[inside]).mean() > 0.1              # the fill is left to G


def test_edge_sharpness_is_one_for_the_target_and_falls_with_blur():
    _, y = outline_pairs(8, seed=4)
    blurred = (y + np.roll(y, 1, axis=2) + np.roll(y, 1, axis=3) + np.roll(y, (1, 1), (2, 3))) / 4
    assert edge_sharpness(y, y) == 1
    assert edge_sharpness(blurred, y) < 0.8


def test_tiny_run_writes_every_output_and_evaluates_again_on_resume(tmp_path):
    metrics = main(TINY + ['--out', str(tmp_path)])
    for name in ('triples.png', 'loss.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 60
    samples = np.load(tmp_path / 'samples.npy')
    assert samples.shape == (8, 3, 32, 32) and samples.dtype == np.float32
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['step'] == 3 and saved == json.loads(json.dumps(metrics))
    for model in ('gan_l1', 'l1_only'):
        assert {'l1', 'psnr', 'ssim', 'edge_sharpness'} <= set(saved[model])
        assert np.isfinite(saved[model]['ssim'])
    again = main(['--steps', '0', '--resume'] + TINY[2:] + ['--out', str(tmp_path)])
    assert again['step'] == 3
