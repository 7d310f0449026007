"""demos/vqvae.py: a tiny run writes every promised file with codebook figures and the
prior-less samples.npy, and --resume continues the saved run exactly."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import autograd
import minigen
from demos.conventions import MNIST_ROOT
from demos.vqvae import main, sample_without_prior

# 28x28 digits give a 7x7 token grid; without MNIST the demo falls back to 32x32 shapes (8x8)
HAVE_MNIST = any(os.path.exists(os.path.join(MNIST_ROOT, 't10k-images-idx3-ubyte' + ext))
                 for ext in ('', '.gz'))

TINY = ['--train-images', '200', '--eval-images', '40', '--batch-size', '8', '--codes', '16',
        '--restart-after', '3', '--samples', '40']


def test_tiny_run_writes_valid_outputs(tmp_path):
    result = main(TINY + ['--steps', '25', '--out', str(tmp_path)])
    for name in ('reconstructions.png', 'codebook_usage.png', 'tokens.png', 'loss.png',
                 'samples.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 100
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved == json.loads(json.dumps(result)) and saved['step'] == 25
    assert saved['final_loss'] < saved['first_loss']
    held = saved['held_out']
    assert 1 <= held['codes_used'] <= 16 and 1 <= held['perplexity'] <= 16
    side = 7 if HAVE_MNIST else 8
    assert held['bits_per_image'] == side * side * 4  # log2(16 codes) = 4 bits a token
    assert saved['samples_without_prior']['n'] == 40
    samples = np.load(tmp_path / 'samples.npy')
    assert samples.dtype == np.float32 and samples.shape == (40, 1 if HAVE_MNIST else 3,
                                                             4 * side, 4 * side)
    assert 0 <= samples.min() and samples.max() <= 1
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert len(ckpt['extra']['history']['perplexity']) == 25


def test_resume_continues_the_saved_run_exactly(tmp_path):
    main(TINY + ['--steps', '2', '--out', str(tmp_path / 'split')])
    main(TINY + ['--steps', '2', '--out', str(tmp_path / 'split'), '--resume'])
    main(TINY + ['--steps', '4', '--out', str(tmp_path / 'straight')])
    a = minigen.load(tmp_path / 'split' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'straight' / 'checkpoint.npz')
    np.testing.assert_allclose(a['extra']['history']['recon'], b['extra']['history']['recon'],
                               rtol=1e-5)
    for k in b['state']['vqvae']:
        np.testing.assert_allclose(a['state']['vqvae'][k], b['state']['vqvae'][k],
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(SystemExit, match='holds a run with'):
        main(TINY + ['--steps', '1', '--out', str(tmp_path / 'split'), '--resume',
                     '--codes', '8'])


def test_samples_without_prior_draw_tokens_by_their_training_usage():
    """Tokens never used on the training set never appear; the decoder sees every grid."""
    seen = []

    class Model:
        def decode(self, grids):
            seen.append(grids.numpy())
            return autograd.tensor(np.zeros((len(seen[-1]), 1, 4, 4), np.float32))

    train_tokens = np.array([[[0, 0], [2, 2]]] * 50)       # codes 0 and 2, half each
    out = sample_without_prior(Model(), train_tokens, 600, codes=4, seed=0, device='cpu')
    grids = np.concatenate(seen)
    assert out.shape == (600, 1, 4, 4) and grids.shape == (600, 2, 2)
    assert set(np.unique(grids)) == {0, 2} and abs((grids == 0).mean() - 0.5) < 0.05
