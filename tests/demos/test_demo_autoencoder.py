"""demos/autoencoder.py: a tiny run writes every promised file, its losses fall, --resume
continues the saved run exactly (and refuses another config), and the demo falls back to
shapes without MNIST."""
import json

import numpy as np
import pytest
from PIL import Image

import minigen
import demos.conventions
import demos.autoencoder as demo

TINY = ['--train-images', '200', '--eval-images', '40', '--batch-size', '8']


def test_tiny_run_writes_valid_outputs(tmp_path):
    result = demo.main(TINY + ['--steps', '30', '--out', str(tmp_path)])
    for name in ('reconstructions.png', 'loss.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 100
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved == json.loads(json.dumps(result)) and saved['step'] == 30
    for k in ('ae', 'dae'):
        assert saved['final_loss'][k] < saved['first_loss'][k]
    for k in ('ae_clean', 'ae_noisy', 'dae_clean', 'dae_noisy', 'noisy_input'):
        assert set(saved['held_out'][k]) == {'mse', 'psnr', 'ssim'}
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert ckpt['step'] == 30 and len(ckpt['extra']['history']['dae']) == 30


def test_resume_continues_the_saved_run_exactly(tmp_path):
    demo.main(TINY + ['--steps', '4', '--out', str(tmp_path / 'split')])
    demo.main(TINY + ['--steps', '3', '--out', str(tmp_path / 'split'), '--resume'])
    demo.main(TINY + ['--steps', '7', '--out', str(tmp_path / 'straight')])
    a = minigen.load(tmp_path / 'split' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'straight' / 'checkpoint.npz')
    assert a['step'] == b['step'] == 7
    np.testing.assert_allclose(a['extra']['history']['dae'], b['extra']['history']['dae'],
                               rtol=1e-6)
    for k in b['state']['dae']:
        np.testing.assert_allclose(a['state']['dae'][k], b['state']['dae'][k],
                                   rtol=1e-5, atol=1e-7)
    with pytest.raises(SystemExit, match='holds a run with'):
        demo.main(TINY + ['--steps', '1', '--out', str(tmp_path / 'split'), '--resume',
                          '--noise-level', '0.1'])
    with pytest.raises(SystemExit, match='no checkpoint'):
        demo.main(TINY + ['--out', str(tmp_path / 'none'), '--resume'])


def test_falls_back_to_shapes_without_mnist(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demos.conventions, 'MNIST_ROOT', str(tmp_path / 'no-mnist'))
    result = demo.main(['--train-images', '30', '--eval-images', '20', '--batch-size', '4',
                        '--steps', '2', '--out', str(tmp_path / 'run')])
    assert result['dataset'] == 'shapes' and result['held_out_images'] == 20
    assert 'falling back to --dataset shapes' in capsys.readouterr().out


def test_bad_flags_are_refused_before_any_work(tmp_path, capsys):
    for bad in (['--dataset', 'cifar'], ['--noise', 'salt'], ['--preset', 'huge']):
        with pytest.raises(SystemExit):
            demo.main(bad + ['--out', str(tmp_path / 'never')])
        assert 'invalid choice' in capsys.readouterr().err
    assert not (tmp_path / 'never').exists()
