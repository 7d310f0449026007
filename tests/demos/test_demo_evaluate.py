"""demos/evaluate.py: the table has the floor, the samples and the bad sets, the numbers
move the right way, and metrics.json holds them; samples at another resolution (ddpm's
16x16 shapes) are resized to the feature net's and metrics.json says so; an input it cannot
score is refused in one line, not a traceback."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from demos.evaluate import main
from minigen.metrics.train_features import MNIST_ROOT


@pytest.fixture
def mnist_test():
    from minigen.data.idx import load_mnist
    try:
        return load_mnist('test', root=os.path.normpath(MNIST_ROOT), download=False)[0]
    except FileNotFoundError:
        pytest.skip('MNIST test set not found beside the repository (../shared/data/mnist)')


def test_mnist_table_from_npy_with_bad_sets(tmp_path, mnist_test):
    samples = mnist_test[:150, 0]                         # (N, H, W) real digits as "samples"
    np.save(tmp_path / 'samples.npy', samples)
    metrics = main(['--samples', str(tmp_path / 'samples.npy'), '--dataset', 'mnist',
                    '--bad', 'noise', 'collapse', '--kid-subsets', '5', '--n-reference', '600',
                    '--out', str(tmp_path / 'out')])
    rows = metrics['rows']
    assert list(rows) == ['real vs real (floor)', 'samples.npy', 'bad: noise', 'bad: collapse']
    assert all(r['n_samples'] == 150 for r in rows.values())
    assert rows['bad: noise']['fid'] > 5 * rows['real vs real (floor)']['fid']
    assert rows['bad: collapse']['recall'] < rows['real vs real (floor)']['recall']
    for name in ('sets.png', 'fid_vs_n.png', 'kid_vs_n.png'):
        with Image.open(tmp_path / 'out' / name) as im:
            assert im.format == 'PNG'
    fids = metrics['floor_vs_n']['fid']
    assert metrics['floor_vs_n']['n'] == [25, 50, 100, 150]
    assert fids[0] > fids[-1]                                 # FID's bias in n
    saved = json.loads((tmp_path / 'out' / 'metrics.json').read_text())
    assert saved['rows'] == json.loads(json.dumps(rows))


def test_shapes_folder_of_pngs(tmp_path):
    from minigen.data.shapes import make_shapes
    folder = tmp_path / 'pngs'
    folder.mkdir()
    for i, img in enumerate(make_shapes(20, seed=9).images):
        pixels = (img.transpose(1, 2, 0) * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / f'{i}.png')
    metrics = main(['--samples', str(folder), '--dataset', 'shapes', '--bad', 'blur',
                    '--kid-subsets', '3', '--n-reference', '100', '--out', str(tmp_path / 'out')])
    row = metrics['rows']['pngs']
    assert row['n_samples'] == 20 and np.isfinite(row['fid'])


ROOT = os.path.join(os.path.dirname(__file__), '..', '..')


def evaluate(*args):
    """python -m demos.evaluate ARGS, as a user runs it: (exit status, stdout, stderr)."""
    done = subprocess.run([sys.executable, '-m', 'demos.evaluate', *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_16x16_shapes_samples_are_resized_to_the_feature_net(tmp_path):
    """The README's `python -m demos.evaluate --samples out/ddpm/samples.npy --dataset
    shapes` on the quick preset's 16x16 samples."""
    from minigen.data.shapes import make_shapes
    np.save(tmp_path / 'samples.npy', make_shapes(40, size=16, seed=7).images)
    code, out, err = evaluate('--samples', tmp_path / 'samples.npy', '--dataset', 'shapes',
                              '--kid-subsets', '3', '--n-reference', '100',
                              '--out', tmp_path / 'out')
    assert code == 0, err
    saved = json.loads((tmp_path / 'out' / 'metrics.json').read_text())
    assert saved['resized_from'] == [16, 16] and 'channels_from' not in saved
    row = saved['rows']['samples.npy']
    assert row['n_samples'] == 40 and np.isfinite(row['fid'])


def test_grey_samples_become_rgb_for_the_shapes_net(tmp_path):
    np.save(tmp_path / 's.npy', np.full((8, 24, 24), 0.5, np.float32))  # (N, H, W)
    metrics = main(['--samples', str(tmp_path / 's.npy'), '--dataset', 'shapes',
                    '--kid-subsets', '2', '--n-reference', '50', '--out', str(tmp_path / 'out')])
    assert metrics['resized_from'] == [24, 24] and metrics['channels_from'] == 1


@pytest.mark.parametrize('array, words', [
    (np.full((10, 1, 28, 28), -1.0, np.float32), r'\[0, 1\]'),
    (np.full((10, 2, 28, 28), 0.5, np.float32), 'C = 1 or 3'),
    (np.full((10, 28), 0.5, np.float32), r'shape \(10, 28\)'),
    (np.full((10, 1, 28, 28), np.nan, np.float32), 'non-finite'),
])
def test_refuses_what_it_cannot_score_in_one_line(tmp_path, array, words):
    np.save(tmp_path / 's.npy', array)
    with pytest.raises(SystemExit, match=words) as refused:
        main(['--samples', str(tmp_path / 's.npy'), '--dataset', 'shapes',
              '--out', str(tmp_path / 'out')])
    assert str(refused.value).startswith('demos.evaluate: ')
    assert not (tmp_path / 'out').exists()


def test_a_missing_file_is_one_line_on_stderr_not_a_traceback(tmp_path):
    code, out, err = evaluate('--samples', tmp_path / 'nothing.npy', '--dataset', 'shapes',
                              '--out', tmp_path / 'out')
    assert code == 1 and 'Traceback' not in err
    assert err.strip().splitlines() == [f"demos.evaluate: no file or folder "
                                        f"{tmp_path / 'nothing.npy'}"]
    code, _, err = evaluate('--dataset', 'nope')
    assert code == 2 and 'invalid choice' in err and 'Traceback' not in err
