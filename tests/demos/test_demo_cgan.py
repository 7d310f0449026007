"""demos/cgan.py: a tiny run writes a grid with one row per class, samples.npy and its
metrics, and --resume continues the saved run exactly (the EMA of G's weights included)."""
import json

import numpy as np
import pytest
from PIL import Image

import minigen
from demos.cgan import main

TINY = ['--steps', '3', '--batch-size', '8', '--ngf', '8', '--ndf', '8', '--eval-samples', '20']


def test_tiny_run_writes_one_row_per_class(device, tmp_path):
    metrics = main(TINY + ['--device', device, '--out', str(tmp_path)])
    rows = 10 if metrics['dataset'] == 'mnist' else 5  # MNIST falls back to shapes if absent
    with Image.open(tmp_path / 'classes.png') as im:
        assert im.format == 'PNG'
        # one row per class of images scaled to >= 64 px (plus padding), ten columns
        assert im.size[1] >= rows * 64 and im.size[0] >= 10 * 64
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['step'] == 3 and saved == json.loads(json.dumps(metrics))
    assert 0 <= saved['final']['label_accuracy'] <= 1
    samples = np.load(tmp_path / 'samples.npy')
    size = 28 if rows == 10 else 32
    assert samples.shape == (20, 1 if rows == 10 else 3, size, size) and saved['samples'] == 20
    assert samples.dtype == np.float32 and 0 <= samples.min() <= samples.max() <= 1


def test_resume_continues_the_saved_run_exactly(tmp_path):
    """With the alternatives: conditional batch norm in G, projection D, hinge loss."""
    other = ['--loss', 'hinge', '--g-conditioning', 'batchnorm', '--d-conditioning',
             'projection']
    main(['--steps', '2'] + TINY[2:] + other + ['--out', str(tmp_path / 'a')])
    resumed = main(['--steps', '1'] + TINY[2:] + other + ['--out', str(tmp_path / 'a'),
                                                        '--resume'])
    main(TINY + other + ['--out', str(tmp_path / 'b')])
    assert resumed['step'] == 3
    a = minigen.load(tmp_path / 'a' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'b' / 'checkpoint.npz')
    np.testing.assert_allclose(a['extra']['losses'], b['extra']['losses'], rtol=1e-5)
    for net in ('G', 'D'):
        for k in b['state'][net]:
            np.testing.assert_allclose(a['state'][net][k], b['state'][net][k], rtol=1e-5,
                                       atol=1e-6)
    assert a['state']['ema']['num_updates'] == b['state']['ema']['num_updates'] == 3
    for k, v in b['state']['ema']['shadow'].items():  # the EMA of G resumes exactly too
        np.testing.assert_allclose(a['state']['ema']['shadow'][k], v, rtol=1e-5, atol=1e-6)
    with pytest.raises(SystemExit, match="'conditioning': \\['batchnorm', 'projection'\\]"):
        main(TINY + ['--out', str(tmp_path / 'a'), '--resume'])


def test_a_run_with_nothing_to_do_is_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(['--steps', '0', '--out', str(tmp_path)])
    assert '--steps must be >= 1' in capsys.readouterr().err
    assert not (tmp_path / 'checkpoint.npz').exists()
