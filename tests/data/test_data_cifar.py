"""CIFAR-10 python batches: exact layout, and pickles that try to run code are refused."""
import os
import pickle

import numpy as np
import pytest

from minigen.data.cifar import load_cifar10, read_batch, SafeUnpickler


def write_batch(path, n, seed, protocol=2, bytes_keys=False):
    """A batch file laid out as CIFAR-10's: data (n, 3072) uint8, labels list."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    batch = {'batch_label': 'testing batch 1 of 1', 'data': data, 'labels': labels,
             'filenames': [f'img_{i}.png' for i in range(n)]}
    if bytes_keys:
        batch = {k.encode(): v for k, v in batch.items()}
    with open(path, 'wb') as f:
        pickle.dump(batch, f, protocol=protocol)
    return data, labels


class RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


@pytest.mark.parametrize('protocol,bytes_keys', [(2, False), (4, True), (5, False)])
def test_batch_pixels_are_unpacked_channel_then_row_then_column(tmp_path, protocol, bytes_keys):
    data, labels = write_batch(tmp_path / 'b', 7, seed=protocol, protocol=protocol,
                               bytes_keys=bytes_keys)
    images, y = read_batch(tmp_path / 'b')
    n, c, i, j = 3, 2, 5, 17
    assert images.shape == (7, 3, 32, 32) and images[n, c, i, j] == data[n, c * 1024 + i * 32 + j]
    assert y.dtype == np.int64 and list(y) == labels


def test_load_cifar10_concatenates_the_splits_as_unit_range_floats(tmp_path):
    parts = [write_batch(tmp_path / f'data_batch_{i}', 4, seed=i) for i in range(1, 6)]
    test = write_batch(tmp_path / 'test_batch', 3, seed=9)
    x, y = load_cifar10('train', root=tmp_path)
    assert x.shape == (20, 3, 32, 32) and x.dtype == np.float32 and len(y) == 20
    np.testing.assert_array_equal(x[4:8].reshape(4, -1), parts[1][0] / np.float32(255))
    xt, yt = load_cifar10('test', root=tmp_path)
    assert len(xt) == 3 and list(yt) == test[1]


def test_a_pickle_that_calls_os_system_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / 'pwned'
    with open(tmp_path / 'evil', 'wb') as f:
        pickle.dump({'data': RunsAShellCommand(marker), 'labels': []}, f, protocol=2)
    with pytest.raises(ValueError, match='refusing global (posix|os|nt).system'):
        read_batch(tmp_path / 'evil')
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match='builtins.eval'):
        SafeUnpickler(__import__('io').BytesIO(pickle.dumps(eval))).load()


class AllocatesAnExabyte:
    """What pickle stores for an empty array, numpy's _reconstruct(ndarray, shape, dtype),
    with a shape of 2**60 bytes: loading it allocated before any check could run."""

    def __reduce__(self):
        return np.ndarray.__reduce__(np.zeros(1))[0], (np.ndarray, (2 ** 30, 2 ** 30), b'b')


def test_a_pickle_that_builds_a_huge_array_is_refused_naming_the_file(tmp_path):
    with open(tmp_path / 'bomb', 'wb') as f:
        pickle.dump({'data': AllocatesAnExabyte(), 'labels': []}, f, protocol=2)
    with pytest.raises(ValueError, match=r'bomb is not a CIFAR-10 batch: .*1152921504606846976 '
                                         r'bytes'):
        read_batch(tmp_path / 'bomb')


@pytest.mark.parametrize('batch,message', [
    ({'data': np.zeros((2, 100), np.uint8), 'labels': [0, 1]}, r"'data' as a uint8 array"),
    ({'data': np.zeros((2, 3072), np.float32), 'labels': [0, 1]}, r"'data' as a uint8 array"),
    ({'data': np.zeros((2, 3072), np.uint8), 'labels': [0]}, r"needs 2 'labels' in 0..9"),
    ({'data': np.zeros((2, 3072), np.uint8), 'labels': [0, 10]}, r"needs 2 'labels' in 0..9"),
    ([1, 2, 3], 'holds a list, not a batch dict')])
def test_malformed_batches_are_errors(tmp_path, batch, message):
    with open(tmp_path / 'b', 'wb') as f:
        pickle.dump(batch, f)
    with pytest.raises(ValueError, match=message):
        read_batch(tmp_path / 'b')


def test_truncated_batch_file_is_an_error(tmp_path):
    write_batch(tmp_path / 'b', 3, seed=0)
    (tmp_path / 'c').write_bytes((tmp_path / 'b').read_bytes()[:500])
    with pytest.raises(ValueError, match='is not a CIFAR-10 batch'):
        read_batch(tmp_path / 'c')


def test_missing_batches_say_where_to_get_and_put_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\['test_batch'\] not found.*cifar.html"):
        load_cifar10('test', root=tmp_path)
    with pytest.raises(ValueError, match='split'):
        load_cifar10('dev', root=tmp_path)
