"""demos/dcgan.py: a tiny run writes every promised file (metrics included when the
feature nets exist), and --resume continues the saved run exactly."""
import json

import numpy as np
import pytest
from PIL import Image

import minigen
from demos.dcgan import main

TINY = ['--steps', '4', '--batch-size', '8', '--ngf', '8', '--ndf', '8', '--eval-samples', '24']


@pytest.mark.parametrize('dataset', ['mnist', 'shapes'])
def test_tiny_run_writes_valid_outputs(dataset, device, tmp_path):
    metrics = main(TINY + ['--dataset', dataset, '--device', device, '--out', str(tmp_path)])
    for name in ('samples.png', 'interpolation.png', 'loss.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 60
    with Image.open(tmp_path / 'progress.gif') as im:
        assert im.format == 'GIF' and im.n_frames == len(metrics['trajectory']) == 4
    assert len(list(tmp_path.glob('samples_0*.png'))) == 4
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['step'] == 4 and saved == json.loads(json.dumps(metrics))
    assert saved['dataset'] in (dataset, 'shapes')  # MNIST falls back to shapes when absent
    if 'fid' in saved['final']:
        assert np.isfinite(saved['final']['fid']) and 0 <= saved['final']['precision'] <= 1
        assert (tmp_path / 'metrics.png').exists()


def test_resume_continues_the_saved_run_exactly(tmp_path):
    main(TINY[:1] + ['2'] + TINY[2:] + ['--out', str(tmp_path / 'a')])
    resumed = main(TINY[:1] + ['2'] + TINY[2:] + ['--out', str(tmp_path / 'a'), '--resume'])
    main(TINY + ['--out', str(tmp_path / 'b')])
    assert resumed['step'] == 4
    a = minigen.load(tmp_path / 'a' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'b' / 'checkpoint.npz')
    np.testing.assert_allclose(a['losses'], b['losses'], rtol=1e-5)
    for net in ('G', 'D'):
        for k in b[net]:
            np.testing.assert_allclose(a[net][k], b[net][k], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='holds a run on'):
        main(TINY + ['--ngf', '16', '--out', str(tmp_path / 'a'), '--resume'])
