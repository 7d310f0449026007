"""demos/diffusion_2d.py: a tiny run writes every promised file (its samples as points.npy,
(N, 2)), its loss falls, and --resume continues the saved run exactly where it stopped."""
import json

import numpy as np
import pytest
from PIL import Image

import minigen
from demos.diffusion_2d import main

TINY = ['--steps', '150', '--batch-size', '64', '--samples', '200']


def run(device, out, *extra):
    return main(TINY + ['--device', device, '--out', str(out), *extra])


def test_tiny_run_writes_valid_outputs_and_loss_falls(device, tmp_path):
    metrics = run(device, tmp_path)
    samples = np.load(tmp_path / 'points.npy')
    assert samples.shape == (200, 2) and np.isfinite(samples).all()
    assert not (tmp_path / 'samples.npy').exists()  # samples.npy holds images, for evaluate
    for name in ('samples.png', 'loss.png', 'loss_vs_t.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 100
    with Image.open(tmp_path / 'reverse.gif') as im:
        assert im.format == 'GIF' and im.n_frames > 10
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['step'] == 150 and saved == json.loads(json.dumps(metrics))
    assert saved['final_loss'] < 0.8 * saved['first_loss']
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert ckpt['step'] == 150 and len(ckpt['extra']['losses']) == 150
    assert ckpt['extra']['diffusion_config'] == {'kind': 'linear', 'T': 100, 'objective': 'eps'}


def test_resume_continues_the_saved_run_exactly(device, tmp_path):
    main(['--steps', '60', '--batch-size', '64', '--samples', '100', '--device', device,
          '--out', str(tmp_path / 'split')])
    resumed = main(['--steps', '40', '--batch-size', '64', '--samples', '100', '--device',
                    device, '--out', str(tmp_path / 'split'), '--resume'])
    main(['--steps', '100', '--batch-size', '64', '--samples', '100', '--device',
                     device, '--out', str(tmp_path / 'straight')])
    assert resumed['step'] == 100
    a = minigen.load(tmp_path / 'split' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'straight' / 'checkpoint.npz')
    np.testing.assert_allclose(a['extra']['losses'], b['extra']['losses'], rtol=1e-6)
    for k in b['state']['model']:
        np.testing.assert_allclose(a['state']['model'][k], b['state']['model'][k], rtol=1e-6,
                                   atol=1e-7)
    np.testing.assert_allclose(np.load(tmp_path / 'split' / 'points.npy'),
                               np.load(tmp_path / 'straight' / 'points.npy'), rtol=1e-5,
                               atol=1e-5)


def test_resume_refuses_another_dataset_and_a_missing_checkpoint(tmp_path):
    with pytest.raises(SystemExit, match='no checkpoint'):
        main(TINY + ['--out', str(tmp_path), '--resume'])
    main(['--steps', '5', '--samples', '50', '--out', str(tmp_path)])
    with pytest.raises(SystemExit, match="holds a run with .*'dataset': '8gaussians'"):
        main(['--steps', '5', '--out', str(tmp_path), '--resume', '--dataset', 'moons'])
    with pytest.raises(SystemExit) as refused:  # argparse: one line, before any work
        main(['--steps', '0', '--out', str(tmp_path / 'fresh')])
    assert refused.value.code == 2 and not (tmp_path / 'fresh').exists()
