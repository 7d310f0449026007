"""demos.trilemma: it trains what is missing with each model's own demo, reads what is there,
scores every row against the same held-out digits, and ranks real digits above noise."""
import json
import os

import numpy as np
import pytest

from demos import trilemma
from demos.conventions import MNIST_ROOT

HAS_MNIST = any(os.path.exists(os.path.join(MNIST_ROOT, f't10k-images-idx3-ubyte{gz}'))
                for gz in ('', '.gz'))
pytestmark = pytest.mark.skipif(not HAS_MNIST, reason=f'MNIST test set not found in {MNIST_ROOT}')


def fake_run(folder, samples, seconds):
    os.makedirs(folder)
    np.save(os.path.join(folder, 'samples.npy'), samples.astype(np.float32))
    with open(os.path.join(folder, 'metrics.json'), 'w') as f:
        json.dump({'sample_seconds_per_image': seconds, 'train_seconds': 60.0}, f)


def test_rows_are_read_from_the_runs_and_real_digits_beat_noise(tmp_path):
    from minigen.data.idx import load_mnist
    digits = load_mnist('test', root=MNIST_ROOT, download=False)[0][:60]
    noise = np.random.default_rng(0).random((60, 1, 28, 28))
    fake_run(tmp_path / 'runs' / 'vae', digits, 1e-3)            # a "perfect" model
    fake_run(tmp_path / 'runs' / 'dcgan', noise, 1e-4)           # a useless fast one
    m = trilemma.main(['--runs', str(tmp_path / 'runs'), '--out', str(tmp_path / 'out'),
                       '--n', '50', '--no-train', '--only', 'vae', 'dcgan', 'flow'])
    rows = m['rows']
    assert set(rows) == {'real digits (floor)', 'VAE', 'DCGAN'} and 'flow' in m['skipped']
    assert rows['VAE']['n_samples'] == 50                       # the first --n samples
    assert rows['VAE']['fid'] < rows['DCGAN']['fid']
    assert rows['VAE']['precision'] > rows['DCGAN']['precision']
    assert rows['VAE']['confident_fraction'] > 0.8 > rows['DCGAN']['confident_fraction']
    assert rows['DCGAN']['sample_seconds_per_image'] == 1e-4
    assert rows['VAE']['train_minutes'] == 1.0
    for name in ('trilemma.png', 'samples.png', 'table.md', 'metrics.json'):
        assert (tmp_path / 'out' / name).exists()
    assert (tmp_path / 'out' / 'table.md').read_text().count('\n') == 2 + 3


def test_missing_runs_are_trained_by_their_demo_and_ddpm1000_resamples_the_ddpm(
        tmp_path, monkeypatch):
    tiny = ['--dataset', 'mnist', '--steps', '2', '--base-channels', '8', '--timesteps', '30',
            '--batch-size', '4']
    monkeypatch.setitem(trilemma.MODELS, 'ddpm', (
        'DDPM, DDIM', 'ddpm', lambda n: tiny + ['--samples', str(n), '--sample-steps', '3']))
    monkeypatch.setitem(trilemma.MODELS, 'ddpm1000', (
        'DDPM, ancestral', 'ddpm', lambda n: tiny + ['--samples', str(n), '--resume', '--steps',
                                                     '0', '--sample-steps', '30', '--eta', '1']))
    runs = tmp_path / 'runs'
    m = trilemma.main(['--runs', str(runs), '--out', str(tmp_path / 'out'), '--n', '8',
                       '--n-ddpm1000', '6', '--only', 'ddpm1000'])
    assert (runs / 'ddpm' / 'samples.npy').exists()              # trained first, as a row's base
    assert np.load(runs / 'ddpm1000' / 'samples.npy').shape == (6, 1, 28, 28)
    resampled = json.loads((runs / 'ddpm1000' / 'metrics.json').read_text())
    assert resampled['step'] == 2 and resampled['settings']['sample_steps'] == 30
    assert m['rows']['DDPM, ancestral']['n_samples'] == 6
    assert m['rows']['DDPM, ancestral']['sample_seconds_per_image'] > 0
    trained = json.loads((runs / 'ddpm' / 'metrics.json').read_text())['train_seconds']
    assert m['rows']['DDPM, ancestral']['train_minutes'] == pytest.approx(trained / 60)  # ddpm's


def test_resume_is_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        trilemma.main(['--resume', '--out', str(tmp_path / 'out')])
    assert done.value.code == 2 and 'demos.trilemma resumes each model' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
