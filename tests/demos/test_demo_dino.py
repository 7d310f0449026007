"""demos/dino.py runs end to end on tiny settings, writes its pictures and figures, --resume
continues exactly where it stopped, and --no-centering runs without the centre."""
import json
import os

import numpy as np
import pytest

import minigen
from demos import dino
from demos.conventions import MNIST_ROOT

TINY = ['--steps', '2', '--batch-size', '4', '--local-crops', '2', '--width', '8',
        '--depth', '1', '--out-dim', '8', '--n-pool', '64', '--n-train', '40',
        '--n-test', '20', '--probe-steps', '5']


def test_demo_dino_runs_and_resumes(tmp_path):
    out = str(tmp_path / 'run')
    m = dino.main(TINY + ['--out', out])
    for name in ('crops.png', 'loss.png', 'collapse.png', 'attention.png', 'metrics.json',
                 'checkpoint.npz'):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    assert m['step'] == 2 and m['label'] == 'shape'
    for key in ('knn_accuracy', 'linear_probe_accuracy', 'random_knn_accuracy',
                'random_linear_probe_accuracy'):
        assert 0 <= m[key] <= 1, key
    assert np.isfinite(m['final_loss']) and 0 <= m['final_teacher_entropy'] <= m['ln_K']
    for scores in (m['trained'], m['random_init']):      # the same features, the same probes
        assert set(scores) == {'cls_shape_knn', 'cls_shape_linear_probe', 'cls_color_knn',
                               'cls_size_knn', 'cls_position_knn', 'mean_shape_knn',
                               'mean_shape_linear_probe'}
    assert m['knn_accuracy'] == m['trained']['cls_shape_knn']
    assert m['random_knn_accuracy'] == m['random_init']['cls_shape_knn']
    m2 = dino.main(TINY + ['--out', out, '--resume', '--steps', '1'])
    assert m2['step'] == 3
    with open(os.path.join(out, 'metrics.json')) as f:
        assert json.load(f)['step'] == 3
    assert len(minigen.load(os.path.join(out, 'checkpoint.npz'))['extra']['kl']) == 3
    with pytest.raises(SystemExit, match='holds a run with'):
        dino.main(TINY + ['--out', out, '--resume', '--no-centering'])


def test_demo_dino_without_centring_keeps_the_centre_at_zero(tmp_path):
    m = dino.main(TINY + ['--no-centering', '--out', str(tmp_path)])
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert ckpt['config']['centering'] is False
    assert np.all(ckpt['state']['model']['center'] == 0) and m['settings']['centering'] is False


def test_demo_dino_mnist(tmp_path):
    if not any(os.path.exists(os.path.join(MNIST_ROOT, 't10k-images-idx3-ubyte' + ext))
               for ext in ('', '.gz')):
        pytest.skip('MNIST test set not present')
    m = dino.main(TINY + ['--dataset', 'mnist', '--out', str(tmp_path)])
    assert m['label'] == 'digit' and os.path.exists(tmp_path / 'attention.png')


def test_demo_dino_refuses_a_patch_that_does_not_divide_the_image(tmp_path):
    with pytest.raises(SystemExit, match='--patch-size 5 must divide the 32-pixel images'):
        dino.main(TINY + ['--patch-size', '5', '--out', str(tmp_path)])
    with pytest.raises(SystemExit, match='and the --local-size 12'):
        dino.main(TINY + ['--local-size', '12', '--out', str(tmp_path)])


def test_demo_dino_local_crops_centred_or_anywhere():
    hp = dino.resolve_preset(dino.parse_args([]), dino.PRESETS)
    assert hp['salient_local_crops'] and hp['patch_size'] == 8
    assert not dino.resolve_preset(dino.parse_args(['--uniform-local-crops']),
                                   dino.PRESETS)['salient_local_crops']
    x = np.zeros((16, 3, 32, 32), np.float32)
    x[:, :, 2:6, 26:30] = 1.0                       # a white square in the top right corner
    _, local = dino.crop_pipelines('shapes', 32, hp)
    assert np.all(local(x, 0).max(axis=(1, 2, 3)) > 0.2)
