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


def test_demo_dino_views_get_backgrounds_of_their_own_and_keep_the_object():
    hp = dino.resolve_preset(dino.parse_args([]), dino.PRESETS)
    assert hp['background_swap'] and hp['koleo'] == 0.1
    data, _, (masks, held_masks, bank) = dino.load_data('shapes', hp | {'n_pool': 16,
                                                                         'n_train': 16,
                                                                         'n_test': 4}, 0)
    x, m = data.train[:4], masks[:4]

    def keep(y, rng):
        return y
    views = dino.make_crops(x, keep, keep, 1, np.random.default_rng(0), m, bank)
    inside, outside = np.broadcast_to(m == 1, x.shape), np.broadcast_to(m == 0, x.shape)
    for v in views:
        np.testing.assert_array_equal(v[inside], x[inside])
        assert not np.allclose(v[outside], x[outside])
    assert not np.allclose(views[0][outside], views[1][outside])
    assert dino.make_crops(x, keep, keep, 1, 0)[0] is x
    assert dino.load_data('shapes', hp | {'n_pool': 16, 'n_train': 16, 'n_test': 4,
                                          'background_swap': False}, 0)[2] is None
    assert not dino.resolve_preset(dino.parse_args(['--no-background-swap']),
                                   dino.PRESETS)['background_swap']


def test_demo_dino_logs_the_koleo_term_and_refuses_a_negative_weight(tmp_path, capsys):
    m = dino.main(TINY + ['--out', str(tmp_path)])
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert len(ckpt['extra']['koleo']) == 2 and m['settings']['koleo'] == 0.1
    with pytest.raises(SystemExit):
        dino.parse_args(['--koleo', '-1'])
    assert '--koleo: must be non-negative' in capsys.readouterr().err
