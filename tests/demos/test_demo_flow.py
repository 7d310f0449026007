"""demos/flow.py: a tiny run writes every promised picture and a bits/dim in range, a finished
run trains further with --resume, and --steps 0 needs --resume. (The 2-D flows' learning is
tested in tests/flows, the kill-and-resume in test_demo_checkpoints.)"""
import json

import numpy as np
import pytest
from PIL import Image

import minigen
from demos.flow import TOYS, main
from tests.demos.test_demo_conventions import TINY


def test_tiny_run_writes_the_pictures_and_bits_per_dim(tmp_path):
    result = main(TINY['flow'][2:] + ['--dataset', 'shapes', '--out', str(tmp_path)])
    for name in ('densities_2d.png', 'layers_2d.png', 'samples.png', 'interpolations.png',
                 'loss.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 100
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved == json.loads(json.dumps(result)) and saved['dataset'] == 'shapes'
    # a density on [0, 1]^D that is not absurdly wrong: between 0 and 8 + a few bits/dim
    assert 0 < saved['bits_per_dim'] < 12 and np.isfinite(saved['held_out']['train_bits_per_dim'])
    assert {f'samples_T{t}' for t in (1.0, 0.8, 0.6)} <= set(saved['held_out'])
    assert set(saved['toy_2d']) == set(TOYS)
    samples = np.load(tmp_path / 'samples.npy')
    assert samples.shape == (8, 3, 32, 32)


def test_resume_after_a_finished_run_trains_further(tmp_path):
    main(TINY['flow'] + ['--out', str(tmp_path)])
    main(TINY['flow'][:2] + ['--steps', '3', '--steps-2d', '1'] + TINY['flow'][6:] +
         ['--out', str(tmp_path), '--resume'])
    history = minigen.load(tmp_path / 'checkpoint.npz')['extra']['history']
    assert len(history['image']) == 5 and all(len(history[toy]) == 3 for toy in TOYS)


def test_steps_0_is_refused_without_resume(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(['--steps', '0', '--out', str(tmp_path / 'out')])
    assert done.value.code == 2 and '--steps must be positive' in capsys.readouterr().err
