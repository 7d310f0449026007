"""demos/ddpm.py: a tiny run writes every promised file (samples.npy in [0, 1], NCHW),
--resume continues the saved run exactly, the class-conditional run with the sampler
comparison draws its guidance grid and comparison picture, and the two library options the
demo shows (--min-snr-gamma, --time-cond adagn) reach the loss and the UNet."""
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
    assert saved['resized_from'] == [16, 16] or 'quality_skipped' in saved  # 16 -> the net's 32
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert ckpt['step'] == 8 and len(ckpt['extra']['losses']) == 8
    assert ckpt['extra']['diffusion_config'] == {'kind': 'linear', 'T': 30, 'objective': 'v'}
    assert int(np.sum(ckpt['extra']['by_t_count'])) == 8 * 4  # every example lands in a bucket


def test_quick_preset_draws_at_least_256_samples_on_mnist_and_shapes():
    from demos.ddpm import PRESETS, parse_args
    from demos.conventions import resolve_preset
    for dataset in ('shapes', 'mnist'):
        assert resolve_preset(parse_args(['--dataset', dataset]), PRESETS)['samples'] >= 256


def test_minutes_stops_training_early_and_records_the_steps_done(tmp_path):
    """--minutes 0: the budget is spent after the first step, which is previewed and saved."""
    metrics = run(tmp_path, 50, '--minutes', '0')
    assert metrics['step'] == 1
    assert (tmp_path / 'previews' / 'x0_step000001.png').exists()
    assert len(minigen.load(tmp_path / 'checkpoint.npz')['extra']['losses']) == 1


def test_resume_continues_the_saved_run_exactly(tmp_path):
    run(tmp_path / 'split', 5)
    resumed = run(tmp_path / 'split', 3, '--resume')
    run(tmp_path / 'straight', 8)
    assert resumed['step'] == 8
    a = minigen.load(tmp_path / 'split' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'straight' / 'checkpoint.npz')
    np.testing.assert_allclose(a['extra']['losses'], b['extra']['losses'], rtol=1e-6)
    np.testing.assert_array_equal(a['extra']['by_t_count'], b['extra']['by_t_count'])
    for k in b['state']['model']:
        np.testing.assert_allclose(a['state']['model'][k], b['state']['model'][k], rtol=1e-6,
                                   atol=1e-7)
    for k in b['state']['ema']['shadow']:
        np.testing.assert_allclose(a['state']['ema']['shadow'][k], b['state']['ema']['shadow'][k],
                                   rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.load(tmp_path / 'split' / 'samples.npy'),
                               np.load(tmp_path / 'straight' / 'samples.npy'), atol=1e-5)


def test_resume_refuses_another_setup_and_a_missing_checkpoint(tmp_path, capsys):
    with pytest.raises(SystemExit, match='no checkpoint'):
        run(tmp_path, 2, '--resume')
    run(tmp_path, 2)
    assert run(tmp_path, 0, '--resume')['step'] == 2  # --steps 0 --resume: sample only
    for bad in (['--steps', '0'], ['--min-snr-gamma', '0'], ['--time-cond', 'film']):
        with pytest.raises(SystemExit) as refused:  # argparse: one line, before any work
            main(TINY + bad + ['--out', str(tmp_path / 'fresh')])
        assert refused.value.code == 2
    assert not (tmp_path / 'fresh').exists()
    with pytest.raises(SystemExit, match='holds a run with'):
        run(tmp_path, 2, '--resume', '--class-cond')
    with pytest.raises(SystemExit, match='holds a run with'):
        run(tmp_path, 2, '--resume', '--time-cond', 'adagn')


@pytest.mark.parametrize('bad, why', [
    (['--eta', '1.5'], 'argument --eta: must be between 0 and 1, got 1.5'),
    (['--eta', '-0.1'], 'argument --eta: must be between 0 and 1, got -0.1'),
    (['--sample-steps', '5000'], '--sample-steps 5000 exceeds --timesteps 30'),
    (['--sample-steps', '0'], 'argument --sample-steps: must be a positive integer, got 0'),
    (['--batch-size', '0'], 'argument --batch-size: must be a positive integer, got 0'),
    (['--base-channels', '0'], 'argument --base-channels: must be a positive integer, got 0'),
    (['--samples', '0'], 'argument --samples: must be a positive integer, got 0')])
def test_sampler_and_size_flags_are_refused_before_training(bad, why, tmp_path, capsys):
    """--eta 1.5 and --sample-steps 5000 were refused by the sampler after the whole training
    run; --batch-size 0 trained with the preset's 32 and exited 0."""
    with pytest.raises(SystemExit) as refused:
        run(tmp_path / 'out', 2, *bad)
    assert refused.value.code == 2 and why in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


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
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert ckpt['extra']['diffusion_config']['objective'] == 'eps'
    with pytest.raises(SystemExit, match='holds a run with'):
        run(tmp_path, 0, '--resume', '--objective', 'v')


def test_min_snr_weighting_and_adagn_time_conditioning(tmp_path, monkeypatch):
    import demos.ddpm as ddpm
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs['min_snr_gamma'])
        return loss(*args, **kwargs)
    loss = ddpm.diffusion_loss
    monkeypatch.setattr(ddpm, 'diffusion_loss', spy)
    metrics = run(tmp_path, 2, '--min-snr-gamma', '5', '--time-cond', 'adagn')
    assert seen == [5.0, 5.0] and np.isfinite(metrics['final_loss'])
    assert metrics['settings']['time_cond'] == 'adagn'
    assert metrics['parameters'] > run(tmp_path / 'add', 2)['parameters']  # AdaGN's projections


def test_missing_mnist_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match='--data-dir'):
        run(tmp_path, 1, '--dataset', 'mnist', '--data-dir', str(tmp_path / 'nothing'))


@pytest.mark.skipif(not os.path.exists(MNIST), reason='MNIST test set not in ../shared')
def test_mnist_tiny_run(tmp_path):
    run(tmp_path, 2, '--dataset', 'mnist', '--data-dir', MNIST)
    assert np.load(tmp_path / 'samples.npy').shape == (6, 1, 28, 28)
