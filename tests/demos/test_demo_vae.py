"""demos/vae.py: a tiny run writes every promised file with finite ELBO figures and
samples.npy, and --resume continues both saved runs exactly."""
import json

import numpy as np
import pytest
from PIL import Image

import minigen
from demos.vae import main, normal_quantiles

TINY = ['--train-images', '200', '--eval-images', '40', '--batch-size', '8', '--samples', '40',
        '--warmup', '5', '--iw-samples', '4']


def test_tiny_run_writes_valid_outputs(tmp_path):
    result = main(TINY + ['--steps', '6', '--steps-2d', '20', '--out', str(tmp_path)])
    for name in ('manifold.png', 'latent_scatter.png', 'samples.png', 'reconstructions.png',
                 'interpolations.png', 'loss.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 100
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved == json.loads(json.dumps(result)) and saved['step'] == 6
    for run in ('vae2d', 'vae'):
        fig = saved['held_out'][run]
        assert fig['elbo_nats'] < 0 and np.isfinite(fig['psnr']) and 0 < fig['ssim'] < 1
        # importance sampling (K = 4) never falls far below the one-sample ELBO
        assert fig['log_px_iw_nats_first_300'] > fig['elbo_nats_first_300'] - 1.0
    assert saved['held_out']['vae_samples']['n'] == 40
    samples = np.load(tmp_path / 'samples.npy')
    assert samples.dtype == np.float32 and samples.shape[0] == 40 and samples.ndim == 4
    assert 0 <= samples.min() and samples.max() <= 1
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    history = ckpt['extra']['history']
    assert len(history['vae2d_recon']) == 20 and len(history['vae_kl']) == 6


def test_resume_continues_both_runs_exactly(tmp_path):
    main(TINY + ['--steps', '3', '--steps-2d', '5', '--out', str(tmp_path / 'split')])
    main(TINY + ['--steps', '2', '--steps-2d', '4', '--out', str(tmp_path / 'split'), '--resume'])
    main(TINY + ['--steps', '5', '--steps-2d', '9', '--out', str(tmp_path / 'straight')])
    a = minigen.load(tmp_path / 'split' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'straight' / 'checkpoint.npz')
    assert a['step'] == b['step'] == 5
    for k in ('vae2d_recon', 'vae_kl'):
        np.testing.assert_allclose(a['extra']['history'][k], b['extra']['history'][k], rtol=1e-5)
    with pytest.raises(SystemExit, match='holds a run with'):
        main(TINY + ['--steps', '1', '--out', str(tmp_path / 'split'), '--resume', '--beta', '2'])


def test_normal_quantiles_invert_the_gaussian_cdf():
    np.testing.assert_allclose(normal_quantiles(np.array([0.5, 0.975, 0.025, 0.8413447460685429])),
                               [0.0, 1.959963984540054, -1.959963984540054, 1.0], atol=1e-9)


def test_sample_quality_scores_any_resolution_and_says_so():
    from demos.conventions import sample_quality
    from minigen.data.shapes import make_shapes
    x = make_shapes(40, size=16, seed=0).images
    q = sample_quality(x[:20], x[20:], 'shapes')
    assert q['resized_from'] == [16, 16] and q['n_samples'] == 20
    assert 0 <= q['confident_fraction'] <= 1 and np.isfinite(q['fid'])
    assert set(sample_quality(x, x, 'folder')) == {'unavailable'}
