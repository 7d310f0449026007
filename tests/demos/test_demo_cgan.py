"""demos/cgan.py: a tiny run writes a grid with one row per class and its metrics, and
--resume continues the saved run exactly."""
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
    acc = saved['final']['label_accuracy']
    assert acc is None or 0 <= acc <= 1


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
    np.testing.assert_allclose(a['losses'], b['losses'], rtol=1e-5)
    for net in ('G', 'D'):
        for k in b[net]:
            np.testing.assert_allclose(a[net][k], b[net][k], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="conditioning \\['batchnorm', 'projection'\\]"):
        main(TINY + ['--out', str(tmp_path / 'a'), '--resume'])
