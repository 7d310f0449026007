"""demos/gan_2d.py: a tiny run writes every promised file with sane numbers, and --resume
continues the saved run exactly where it stopped."""
import json

import numpy as np
import pytest
from PIL import Image

import minigen
from demos.gan_2d import main

TINY = ['--steps', '6', '--batch-size', '32', '--width', '16']


def test_tiny_run_writes_valid_outputs(device, tmp_path):
    metrics = main(TINY + ['--device', device, '--out', str(tmp_path)])
    for name in ('progress.png', 'samples.png', 'modes.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 100
    for name in ('points.npy', 'points_gan.npy'):  # WGAN-GP's and the vanilla GAN's
        points = np.load(tmp_path / name)
        assert points.shape == (2000, 2) and points.dtype == np.float32
        assert np.isfinite(points).all()
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['step'] == 6 and saved == json.loads(json.dumps(metrics))
    for kind in ('gan', 'wgan-gp'):
        assert 0 <= saved[f'{kind}_modes_covered'] <= saved['modes_total'] == 8
        assert 0 <= saved[f'{kind}_fraction_within_3_sigma'] <= 1


def test_resume_continues_the_saved_run_exactly(tmp_path):
    main(['--steps', '3', '--batch-size', '32', '--width', '16', '--out', str(tmp_path / 'a')])
    resumed = main(['--steps', '2', '--batch-size', '32', '--width', '16', '--out',
                    str(tmp_path / 'a'), '--resume'])
    main(['--steps', '5', '--batch-size', '32', '--width', '16', '--out', str(tmp_path / 'b')])
    assert resumed['step'] == 5
    a = minigen.load(tmp_path / 'a' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'b' / 'checkpoint.npz')
    for kind in ('gan', 'wgan-gp'):
        for net in ('G', 'D'):
            state_a, state_b = a['state'][f'{kind}_{net}'], b['state'][f'{kind}_{net}']
            for k in state_b:
                np.testing.assert_allclose(np.asarray(state_a[k]), np.asarray(state_b[k]),
                                           rtol=1e-5, atol=1e-6)
    assert [row[0] for row in resumed['history']['gan']] == [1, 2, 3, 4, 5]


def test_resume_refuses_another_width_and_a_missing_checkpoint(tmp_path):
    with pytest.raises(SystemExit, match='no checkpoint'):
        main(TINY + ['--out', str(tmp_path), '--resume'])
    main(TINY + ['--out', str(tmp_path)])
    with pytest.raises(SystemExit, match="'dataset': '8gaussians', 'width': 16"):
        main(['--steps', '1', '--width', '8', '--out', str(tmp_path), '--resume'])


def test_a_run_with_nothing_to_do_is_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(['--steps', '0', '--out', str(tmp_path)])
    assert '--steps must be >= 1' in capsys.readouterr().err
    assert not (tmp_path / 'checkpoint.npz').exists()
