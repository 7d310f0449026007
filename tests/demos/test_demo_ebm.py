"""demos/ebm.py: a tiny run writes every promised picture, the three samplers' images and
their quality figures, a finished run trains further with --resume, and --steps 0 needs
--resume. (The models' learning is tested in tests/energy, the kill-and-resume in
test_demo_checkpoints.)"""
import json

import numpy as np
import pytest
from PIL import Image

import minigen
from demos.ebm import RUNS, main
from tests.demos.test_demo_conventions import HAS_MNIST, MNIST_ROOT, TINY

pytestmark = pytest.mark.skipif(not HAS_MNIST, reason=f'MNIST test set not found in {MNIST_ROOT}')


def test_tiny_run_writes_the_pictures_samples_and_each_samplers_figures(tmp_path):
    result = main(TINY['ebm'] + ['--out', str(tmp_path)])
    for name in ('toy_2d.png', 'samples.png', 'levels.png', 'loss.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 100
    with Image.open(tmp_path / 'chains.gif') as im:
        assert im.is_animated and im.n_frames > 2
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved == json.loads(json.dumps(result))
    samplers = {'ebm_buffer', 'ebm_noise', 'ncsn'}
    assert set(saved['confident_fraction']) == set(saved['inception_score']) == samplers
    assert all(0 <= v <= 1 for v in saved['confident_fraction'].values())
    assert all(1 <= v <= 10 for v in saved['inception_score'].values())
    assert saved['steps'] == {name: 2 for name in RUNS}
    for name in ('samples.npy', 'samples_ebm_buffer.npy', 'samples_ebm_noise.npy'):
        x = np.load(tmp_path / name)
        assert x.shape == (8, 1, 28, 28) and x.min() >= 0 and x.max() <= 1


def test_resume_after_a_finished_run_trains_further(tmp_path):
    main(TINY['ebm'] + ['--out', str(tmp_path)])
    main(TINY['ebm'] + ['--steps', '1', '--out', str(tmp_path), '--resume'])
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert {k: len(v) for k, v in ckpt['extra']['history'].items()} == {
        'ebm_2d': 4, 'score_2d': 4, 'ebm': 4, 'score': 3}
    assert ckpt['state']['buffer']['size'] > 0


def test_steps_0_is_refused_without_resume(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(['--steps', '0', '--out', str(tmp_path / 'out')])
    assert done.value.code == 2 and '--steps must be positive' in capsys.readouterr().err
