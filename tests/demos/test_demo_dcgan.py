"""demos/dcgan.py: a tiny run writes every promised file (samples.npy and the metrics
included), --resume continues the saved run exactly, and --steps 0 --resume evaluates
the saved run again."""
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
    samples = np.load(tmp_path / 'samples.npy')
    size = 28 if metrics['dataset'] == 'mnist' else 32
    assert samples.shape == (24, 1 if size == 28 else 3, size, size)
    assert samples.dtype == np.float32 and 0 <= samples.min() <= samples.max() <= 1
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['step'] == 4 and saved == json.loads(json.dumps(metrics))
    assert saved['dataset'] in (dataset, 'shapes')  # MNIST falls back to shapes when absent
    assert np.isfinite(saved['final']['fid']) and 0 <= saved['final']['precision'] <= 1
    assert saved['samples'] == 24 and (tmp_path / 'metrics.png').exists()


def test_resume_continues_the_saved_run_exactly(tmp_path):
    main(TINY[:1] + ['2'] + TINY[2:] + ['--out', str(tmp_path / 'a')])
    resumed = main(TINY[:1] + ['2'] + TINY[2:] + ['--out', str(tmp_path / 'a'), '--resume'])
    main(TINY + ['--out', str(tmp_path / 'b')])
    assert resumed['step'] == 4
    a = minigen.load(tmp_path / 'a' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'b' / 'checkpoint.npz')
    np.testing.assert_allclose(a['extra']['losses'], b['extra']['losses'], rtol=1e-5)
    for net in ('G', 'D'):
        for k in b['state'][net]:
            np.testing.assert_allclose(a['state'][net][k], b['state'][net][k], rtol=1e-5,
                                       atol=1e-6)
    assert [r['step'] for r in resumed['trajectory']] == [1, 2, 3, 4]
    with pytest.raises(SystemExit, match='holds a run with'):
        main(TINY + ['--ngf', '16', '--out', str(tmp_path / 'a'), '--resume'])


def test_steps_0_resume_evaluates_the_saved_run_again(tmp_path):
    first = main(TINY + ['--out', str(tmp_path)])
    again = main(['--steps', '0'] + TINY[2:] + ['--out', str(tmp_path), '--resume'])
    assert again['step'] == 4 and again['trajectory'] == first['trajectory']
    assert np.load(tmp_path / 'samples.npy').shape[0] == 24


def test_resume_without_a_checkpoint_is_refused_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match='no checkpoint'):
        main(TINY + ['--out', str(tmp_path), '--resume'])


def test_a_run_with_nothing_to_do_is_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(['--steps', '0', '--out', str(tmp_path)])
    assert '--steps must be >= 1' in capsys.readouterr().err
    assert not (tmp_path / 'checkpoint.npz').exists()
