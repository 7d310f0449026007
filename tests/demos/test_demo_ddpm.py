"""demos/ddpm.py: a tiny run writes every promised file (samples.npy in [0, 1], NCHW),
--resume continues the saved run exactly, and the class-conditional run with the sampler
comparison draws its guidance grid and comparison picture."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import minigen
from demos.ddpm import main

# a width-8 UNet on 16x16 shapes, a T = 30 chain, a handful of steps: seconds, not minutes
TINY = ['--base-channels', '8', '--n-train', '64', '--timesteps', '30', '--batch-size', '4',
        '--samples', '6', '--sample-steps', '3']
MNIST = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'data', 'mnist')


def run(out, steps, *extra):
    return main(TINY + ['--steps', str(steps), '--out', str(out), *extra])


def test_tiny_run_writes_valid_outputs(device, tmp_path):
    metrics = run(tmp_path, 8, '--device', device)
    samples = np.load(tmp_path / 'samples.npy')
    assert samples.shape == (6, 3, 16, 16) and samples.dtype == np.float32
    assert samples.min() >= 0 and samples.max() <= 1
    for name in ('samples.png', 'loss.png', 'loss_vs_t.png', 'x0_previews.png',
                 'previews/x0_step000008.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 60
    with Image.open(tmp_path / 'reverse.gif') as im:
        assert im.format == 'GIF' and im.n_frames >= 4
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['step'] == 8 and saved == json.loads(json.dumps(metrics))
    assert np.isfinite(saved['final_loss']) and saved['loss_vs_t']
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert ckpt['step'] == 8 and len(ckpt['losses']) == 8
    assert ckpt['diffusion_config'] == {'kind': 'linear', 'T': 30, 'objective': 'v'}  # preset
    assert int(np.sum(ckpt['by_t_count'])) == 8 * 4  # every training example lands in a bucket


def test_minutes_stops_training_early_and_records_the_steps_done(tmp_path):
    """--minutes 0: the budget is spent after the first step, which is previewed and saved."""
    metrics = run(tmp_path, 50, '--minutes', '0')
    assert metrics['step'] == 1
    assert (tmp_path / 'previews' / 'x0_step000001.png').exists()
    assert len(minigen.load(tmp_path / 'checkpoint.npz')['losses']) == 1


def test_resume_continues_the_saved_run_exactly(tmp_path):
    run(tmp_path / 'split', 5)
    resumed = run(tmp_path / 'split', 3, '--resume')
    run(tmp_path / 'straight', 8)
    assert resumed['step'] == 8
    a = minigen.load(tmp_path / 'split' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'straight' / 'checkpoint.npz')
    np.testing.assert_allclose(a['losses'], b['losses'], rtol=1e-6)
    np.testing.assert_array_equal(a['by_t_count'], b['by_t_count'])
    for part in ('model', ):
        for k in b[part]:
            np.testing.assert_allclose(a[part][k], b[part][k], rtol=1e-6, atol=1e-7)
    for k in b['ema']['shadow']:
        np.testing.assert_allclose(a['ema']['shadow'][k], b['ema']['shadow'][k], rtol=1e-6,
                                   atol=1e-7)
    np.testing.assert_allclose(np.load(tmp_path / 'split' / 'samples.npy'),
                               np.load(tmp_path / 'straight' / 'samples.npy'), atol=1e-5)


def test_resume_refuses_another_setup_and_a_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match='no checkpoint'):
        run(tmp_path, 2, '--resume')
    run(tmp_path, 2)
    assert run(tmp_path, 0, '--resume')['step'] == 2  # --steps 0 --resume: sample only
    with pytest.raises(ValueError, match='--steps must be positive'):
        run(tmp_path / 'fresh', 0)
    with pytest.raises(ValueError, match='holds a run with'):
        run(tmp_path, 2, '--resume', '--class-cond')


def test_class_conditional_guidance_grid_and_sampler_comparison(tmp_path):
    metrics = run(tmp_path, 4, '--class-cond', '--compare-samplers', '--guidance', '0', '2')
    with Image.open(tmp_path / 'cfg_grid.png') as im:
        assert im.height > 5 * 16  # one row per shape class
    with Image.open(tmp_path / 'samplers.png') as im:
        assert im.width > 6 * 16
    assert set(metrics['sampler_seconds']) == {'DDPM_30', 'DDPM_3', 'DDPM_1', 'DDIM_30',
                                               'DDIM_3', 'DDIM_1'}


def test_eps_objective_runs_and_a_mismatched_resume_is_refused(tmp_path):
    run(tmp_path, 2, '--objective', 'eps')
    assert minigen.load(tmp_path / 'checkpoint.npz')['diffusion_config']['objective'] == 'eps'
    with pytest.raises(ValueError, match='trained with'):  # the samplers refuse a v sampler
        run(tmp_path, 0, '--resume', '--objective', 'v')


def test_missing_mnist_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='--data-dir'):
        run(tmp_path, 1, '--dataset', 'mnist', '--data-dir', str(tmp_path / 'nothing'))


@pytest.mark.skipif(not os.path.exists(MNIST), reason='MNIST test set not in ../shared')
def test_mnist_tiny_run(tmp_path):
    run(tmp_path, 2, '--dataset', 'mnist', '--data-dir', MNIST)
    assert np.load(tmp_path / 'samples.npy').shape == (6, 1, 28, 28)
