"""demos/simclr.py runs end to end on tiny settings, writes its outputs, and --resume
continues exactly where it stopped."""
import json
import os

import numpy as np
import pytest

import minigen
from demos import simclr
from demos.conventions import MNIST_ROOT

TINY = ['--steps', '2', '--batch-size', '6', '--n-train', '30', '--n-test', '12',
        '--n-pool', '40', '--widths', '4', '8', '--probe-steps', '20']


def test_demo_simclr_runs_and_resumes(tmp_path):
    out = str(tmp_path / 'run')
    m = simclr.main(TINY + ['--out', out])
    for name in ('augmentations.png', 'views.png', 'loss.png', 'pca_shape.png', 'pca_position.png', 'metrics.json',
                 'checkpoint.npz'):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    assert m['step'] == 2 and set(m['trained']) == {'shape', 'color', 'size', 'position'}
    assert 0 <= m['trained']['shape']['linear_probe'] <= 1
    assert np.isfinite(m['final_loss']) and m['settings']['widths'] == (4, 8)
    m2 = simclr.main(TINY + ['--out', out, '--resume', '--steps', '1'])
    assert m2['step'] == 3
    with open(os.path.join(out, 'metrics.json')) as f:
        assert json.load(f)['step'] == 3
    assert len(minigen.load(os.path.join(out, 'checkpoint.npz'))['extra']['losses']) == 3
    # the resumed run equals an uninterrupted one of 3 steps
    m3 = simclr.main(TINY[:1] + ['3'] + TINY[2:] + ['--out', str(tmp_path / 'straight')])
    assert m3['final_loss'] == pytest.approx(m2['final_loss'], rel=1e-5)
    with pytest.raises(SystemExit, match='holds a run with'):
        simclr.main(TINY + ['--out', out, '--resume', '--widths', '4', '4'])


def test_demo_simclr_mnist(tmp_path):
    if not any(os.path.exists(os.path.join(MNIST_ROOT, 't10k-images-idx3-ubyte' + ext))
               for ext in ('', '.gz')):
        pytest.skip('MNIST test set not present')
    m = simclr.main(TINY + ['--dataset', 'mnist', '--out', str(tmp_path)])
    assert set(m['trained']) == {'digit'}
    assert os.path.exists(tmp_path / 'pca_digit.png')


def test_demo_simclr_refuses_in_one_line(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match='simclr --resume: no checkpoint'):
        simclr.main(TINY + ['--out', str(tmp_path), '--resume'])
    monkeypatch.setattr('demos.conventions.MNIST_ROOT', str(tmp_path / 'no-mnist'))
    with pytest.raises(SystemExit, match='no MNIST IDX files'):
        simclr.main(TINY + ['--dataset', 'mnist', '--out', str(tmp_path / 'mnist')])
