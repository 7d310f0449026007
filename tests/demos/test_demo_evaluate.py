"""demos/evaluate.py: the table has the floor, the samples and the bad sets, the numbers
move the right way, and metrics.json holds them."""
import json
import os

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


def test_rejects_samples_outside_unit_range(tmp_path):
    np.save(tmp_path / 's.npy', np.full((10, 1, 28, 28), -1.0, np.float32))
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        main(['--samples', str(tmp_path / 's.npy'), '--out', str(tmp_path / 'out')])
