"""demos/autoencoder.py: a tiny run writes every promised file, its losses fall, --resume
continues the saved run exactly, and the demo falls back to shapes without MNIST."""
import json

import numpy as np
import pytest
from PIL import Image

import minigen
import demos.autoencoder as demo

TINY = ['--train-images', '200', '--eval-images', '40', '--batch-size', '16']


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
    assert ckpt['step'] == 30 and len(ckpt['history']['dae']) == 30


def test_resume_continues_the_saved_run_exactly(tmp_path):
    demo.main(TINY + ['--steps', '4', '--out', str(tmp_path / 'split')])
    demo.main(TINY + ['--steps', '3', '--out', str(tmp_path / 'split'), '--resume'])
    demo.main(TINY + ['--steps', '7', '--out', str(tmp_path / 'straight')])
    a = minigen.load(tmp_path / 'split' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'straight' / 'checkpoint.npz')
    assert a['step'] == b['step'] == 7
    np.testing.assert_allclose(a['history']['dae'], b['history']['dae'], rtol=1e-6)
    for k in b['models']['dae']:
        np.testing.assert_allclose(a['models']['dae'][k], b['models']['dae'][k],
                                   rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match='holds a run with'):
        demo.main(TINY + ['--steps', '1', '--out', str(tmp_path / 'split'), '--resume',
                          '--noise-level', '0.1'])
    with pytest.raises(FileNotFoundError, match='no checkpoint'):
        demo.main(TINY + ['--out', str(tmp_path / 'none'), '--resume'])


def test_falls_back_to_shapes_without_mnist(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, 'MNIST_ROOT', str(tmp_path / 'no-mnist'))
    x, y, tx, ty, name = demo.load_images(30, 20)
    assert name == 'shapes' and x.shape == (30, 3, 32, 32) and tx.shape == (20, 3, 32, 32)
    assert 'using the built-in shapes set' in capsys.readouterr().out
    with pytest.raises(ValueError, match='load_images'):
        demo.load_images(9000, 2000)
