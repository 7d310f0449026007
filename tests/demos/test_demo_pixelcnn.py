"""demos/pixelcnn.py: a tiny run writes every promised picture, samples of the asked shape and
the held-out NLL in nats and bits/dim; the 256-way output runs too; a finished run trains
further with --resume, and --steps 0 needs --resume. (The model's properties are tested in
tests/autoregressive, the kill-and-resume in test_demo_checkpoints.)"""
import json
import math

import numpy as np
import pytest
from PIL import Image

import minigen
from demos.pixelcnn import main
from tests.demos.test_demo_conventions import TINY

SHAPES = ['--dataset', 'shapes'] + TINY['pixelcnn'][2:]


def test_tiny_run_writes_the_pictures_and_the_nll(tmp_path):
    result = main(SHAPES + ['--out', str(tmp_path)])
    for name in ('samples.png', 'completions.png', 'nll.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 60
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved == json.loads(json.dumps(result)) and saved['dataset'] == 'shapes'
    assert saved['bits_per_dim'] == pytest.approx(saved['nll_nats'] / (32 * 32 * math.log(2)))
    assert 0 < saved['bits_per_dim'] < 1.5 and 'published_nll_nats' not in saved
    assert saved['held_curve'] and saved['held_curve'][0][0] == 2
    samples = np.load(tmp_path / 'samples.npy')
    assert samples.shape == (saved['samples']['n'], 1, 32, 32)  # one row of one per class
    assert set(np.unique(samples)) <= {0.0, 1.0}  # Bernoulli pixels


def test_the_softmax_output_draws_grey_levels(tmp_path):
    saved = main(SHAPES + ['--output', 'softmax', '--out', str(tmp_path)])
    samples = np.load(tmp_path / 'samples.npy') * 255
    assert np.allclose(samples, np.rint(samples), atol=1e-3)
    assert 0 < saved['bits_per_dim'] < 9  # at most 8 bits a pixel, after two steps about 8


def test_resume_after_a_finished_run_trains_further(tmp_path):
    main(SHAPES + ['--out', str(tmp_path)])
    main(SHAPES + ['--steps', '3', '--out', str(tmp_path), '--resume'])
    assert len(minigen.load(tmp_path / 'checkpoint.npz')['extra']['losses']) == 5


def test_steps_0_is_refused_without_resume(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(['--steps', '0', '--out', str(tmp_path / 'out')])
    assert done.value.code == 2 and '--steps must be positive' in capsys.readouterr().err
