"""demos/vqvae.py: a tiny run writes every promised file with codebook figures, and
--resume continues the saved run exactly."""
import json
import os

import numpy as np
from PIL import Image

import minigen
from demos.conventions import MNIST_ROOT
from demos.vqvae import main

# 28x28 digits give a 7x7 token grid; without MNIST the demo falls back to 32x32 shapes (8x8)
HAVE_MNIST = any(os.path.exists(os.path.join(MNIST_ROOT, 't10k-images-idx3-ubyte' + ext))
                 for ext in ('', '.gz'))

TINY = ['--train-images', '200', '--eval-images', '40', '--batch-size', '16', '--codes', '16',
        '--restart-after', '3']


def test_tiny_run_writes_valid_outputs(tmp_path):
    result = main(TINY + ['--steps', '25', '--out', str(tmp_path)])
    for name in ('reconstructions.png', 'codebook_usage.png', 'tokens.png', 'loss.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 100
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved == json.loads(json.dumps(result)) and saved['step'] == 25
    assert saved['final_loss'] < saved['first_loss']
    held = saved['held_out']
    assert 1 <= held['codes_used'] <= 16 and 1 <= held['perplexity'] <= 16
    side = 7 if HAVE_MNIST else 8
    assert held['bits_per_image'] == side * side * 4  # log2(16 codes) = 4 bits a token
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert len(ckpt['history']['perplexity']) == 25


def test_resume_continues_the_saved_run_exactly(tmp_path):
    main(TINY + ['--steps', '4', '--out', str(tmp_path / 'split')])
    main(TINY + ['--steps', '4', '--out', str(tmp_path / 'split'), '--resume'])
    main(TINY + ['--steps', '8', '--out', str(tmp_path / 'straight')])
    a = minigen.load(tmp_path / 'split' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'straight' / 'checkpoint.npz')
    np.testing.assert_allclose(a['history']['recon'], b['history']['recon'], rtol=1e-5)
    for k in b['models']['vqvae']:
        np.testing.assert_allclose(a['models']['vqvae'][k], b['models']['vqvae'][k],
                                   rtol=1e-5, atol=1e-6)
