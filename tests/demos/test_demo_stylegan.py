"""demos/stylegan.py: a tiny run writes every promised picture, samples.npy and the metrics
(sample_seconds_per_image and train_seconds included); the truncation sweep's psi = 0 row
is one image (w_avg's) for every z while psi = 1 differs; --resume continues the saved run
exactly; bad flags are refused at parse time."""
import json

import numpy as np
import pytest
from PIL import Image

import minigen
from demos.stylegan import for_classifier, main
from tests.demos.test_demo_conventions import HAS_MNIST, MNIST_ROOT

TINY = ['--steps', '4', '--batch-size', '4', '--width', '8', '--ndf', '4', '--samples', '12',
        '--r1-every', '2', '--evals', '2']


@pytest.mark.parametrize('dataset', ['mnist', 'shapes'])
def test_tiny_run_writes_valid_outputs(dataset, tmp_path):
    if dataset == 'mnist' and not HAS_MNIST:
        pytest.skip(f'MNIST test set not found in {MNIST_ROOT}')
    metrics = main(TINY + ['--dataset', dataset, '--out', str(tmp_path)])
    for name in ('samples.png', 'style_mixing.png', 'truncation.png', 'noise.png', 'loss.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 60
    with Image.open(tmp_path / 'progress.gif') as im:
        assert im.format == 'GIF' and im.n_frames == len(metrics['trajectory']) == 2
    samples = np.load(tmp_path / 'samples.npy')
    assert samples.shape == ((12, 1, 28, 28) if dataset == 'mnist' else (12, 3, 16, 16))
    assert samples.dtype == np.float32 and 0 <= samples.min() <= samples.max() <= 1
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['step'] == 4 and saved == json.loads(json.dumps(metrics))
    assert saved['sample_seconds_per_image'] > 0 and saved['train_seconds'] > 0
    for key in ('fid', 'is', 'confident_fraction', 'confident_fraction_real'):
        assert np.isfinite(saved['final'][key])
        if dataset == 'mnist':  # the former path's figures, kept beside
            assert np.isfinite(saved['final_bilinear_path'][key])


def test_mnist_reaches_the_classifier_by_pixel_repetition_and_a_crop():
    """16x16 -> each pixel a 2x2 block (32x32) -> the 2-px padding cropped: 28x28."""
    images = np.random.default_rng(0).random((3, 1, 16, 16), dtype=np.float32)
    out = for_classifier(images, 'mnist')
    blocks = np.repeat(np.repeat(images, 2, axis=2), 2, axis=3)[:, :, 2:30, 2:30]
    np.testing.assert_array_equal(out, blocks)
    smooth = for_classifier(images, 'mnist', 'bilinear')
    assert smooth.shape == out.shape and not np.allclose(smooth, out)
    assert for_classifier(images, 'shapes') is images


def test_truncation_psi_0_gives_one_image_for_every_z(tmp_path):
    main(TINY + ['--dataset', 'shapes', '--out', str(tmp_path)])
    sweep = np.load(tmp_path / 'truncation.npy')          # rows psi 1, 0.7, 0.5, 0
    assert sweep.shape[:2] == (4, 8)
    np.testing.assert_allclose(sweep[3], np.broadcast_to(sweep[3][:1], sweep[3].shape), atol=1e-6)
    assert np.abs(sweep[0] - sweep[0][:1]).max() > 1e-3  # psi 1: the z's own images


def test_resume_continues_the_saved_run_exactly(tmp_path):
    args = TINY[2:] + ['--dataset', 'shapes']
    main(['--steps', '2'] + args + ['--out', str(tmp_path / 'a')])
    resumed = main(['--steps', '2'] + args + ['--out', str(tmp_path / 'a'), '--resume'])
    main(['--steps', '4'] + args + ['--out', str(tmp_path / 'b')])
    assert resumed['step'] == 4
    a = minigen.load(tmp_path / 'a' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'b' / 'checkpoint.npz')
    np.testing.assert_allclose(a['extra']['losses'], b['extra']['losses'], rtol=1e-5)
    for net in ('G', 'D'):
        for k in b['state'][net]:
            np.testing.assert_allclose(a['state'][net][k], b['state'][net][k], rtol=1e-5,
                                       atol=1e-6)
    with pytest.raises(SystemExit, match='holds a run with'):
        main(['--steps', '2'] + args + ['--width', '16', '--out', str(tmp_path / 'a'),
                                         '--resume'])


@pytest.mark.parametrize('flags', [['--r1-every', '0'], ['--samples', '2'], ['--r1-gamma', '-1'],
                                   ['--steps', '0'], ['--evals', '0'], ['--noise-lr', '-1'],
                                   ['--mixing', '1.5']])
def test_bad_flags_are_refused_at_parse_time(flags, tmp_path):
    with pytest.raises(SystemExit) as done:
        main(flags + ['--out', str(tmp_path / 'out')])
    assert done.value.code == 2 and not (tmp_path / 'out').exists()
