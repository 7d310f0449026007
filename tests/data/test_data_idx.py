"""IDX files (MNIST, Fashion-MNIST): exact parsing, and every damaged file is an error."""
import gzip
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minigen.data import idx
from minigen.data.idx import read_idx, load_mnist, load_fashion_mnist

MNIST = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'data', 'mnist')
CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
         np.float64: 0x0E}


def idx_bytes(array):
    """The IDX encoding of `array`, written out by hand (big-endian header and values)."""
    header = bytes([0, 0, CODES[array.dtype.type], array.ndim])
    header += b''.join(int(s).to_bytes(4, 'big') for s in array.shape)
    return header + array.astype(array.dtype.newbyteorder('>')).tobytes()


def write(path, data, gz):
    if gz:
        path = str(path) + '.gz'
        data = gzip.compress(data)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def write_mnist(folder, n_images, n_labels, gz=True, split='test'):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_images, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, n_labels).astype(np.uint8)
    names = idx.FILES[split]
    write(os.path.join(folder, names[0]), idx_bytes(images), gz)
    write(os.path.join(folder, names[1]), idx_bytes(labels), gz)
    return images, labels


@given(dtype=st.sampled_from(list(CODES)), shape=st.lists(st.integers(0, 5), min_size=1, max_size=3),
       gz=st.booleans())
def test_read_idx_returns_exactly_the_written_array(tmp_path_factory, dtype, shape, gz):
    array = (np.arange(int(np.prod(shape))).reshape(shape) % 100 - 50).astype(dtype)
    path = write(tmp_path_factory.mktemp('idx') / 'a', idx_bytes(array), gz)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


@pytest.mark.skipif(not os.path.isdir(MNIST), reason='the MNIST test split is not in ../shared/data/mnist')
def test_real_mnist_test_split_parses_to_its_known_statistics():
    x, y = load_mnist('test', root=MNIST, download=False)
    assert x.shape == (10_000, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0 and x.max() == 1
    assert list(y[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert list(np.bincount(y)) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(x.mean() - 0.1325) < 1e-3             # the published test-set pixel mean


@pytest.mark.parametrize('gz', [True, False])
@pytest.mark.parametrize('loader', [load_mnist, load_fashion_mnist])
def test_loaders_read_gz_and_raw_pairs_as_unit_range_floats(tmp_path, loader, gz):
    images, labels = write_mnist(tmp_path, 6, 6, gz=gz, split='train')
    x, y = loader('train', root=tmp_path, download=False)
    np.testing.assert_array_equal(x[:, 0], images / np.float32(255))
    np.testing.assert_array_equal(y, labels)


def test_wrong_magic_number_is_an_error(tmp_path):
    data = bytearray(idx_bytes(np.zeros((2, 3), np.uint8)))
    data[0] = 0x08
    with pytest.raises(ValueError, match='magic number is 0x08000802'):
        read_idx(write(tmp_path / 'a', bytes(data), gz=False))
    data = bytearray(idx_bytes(np.zeros((2, 3), np.uint8)))
    data[2] = 0x07                                    # no such value type
    with pytest.raises(ValueError, match='not an IDX file'):
        read_idx(write(tmp_path / 'b', bytes(data), gz=True))


@pytest.mark.parametrize('gz', [True, False])
def test_truncated_or_overlong_file_is_an_error(tmp_path, gz):
    data = idx_bytes(np.ones((4, 28, 28), np.uint8))
    with pytest.raises(ValueError, match='truncated'):
        read_idx(write(tmp_path / 'short', data[:-10], gz))
    with pytest.raises(ValueError, match='truncated inside its header'):
        read_idx(write(tmp_path / 'header', data[:9], gz))
    with pytest.raises(ValueError, match='longer than declared'):
        read_idx(write(tmp_path / 'long', data + b'\x00', gz))


def test_truncated_gzip_stream_is_an_error(tmp_path):
    data = gzip.compress(idx_bytes(np.ones((4, 28, 28), np.uint8)))
    path = tmp_path / 'cut.gz'
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match='damaged or truncated gzip'):
        read_idx(path)


def test_corrupted_gzip_stream_names_the_file(tmp_path):
    """Bytes overwritten inside the deflate stream: zlib's own error said nothing of which
    file it was reading."""
    data = gzip.compress(idx_bytes(np.ones((4, 28, 28), np.uint8)))
    path = tmp_path / 'flipped.gz'
    path.write_bytes(data[:10] + b'\xff' * 20 + data[30:])
    with pytest.raises(ValueError, match=r'flipped.gz is a damaged or truncated gzip file '
                                         r'\(.*invalid block type'):
        read_idx(path)


def test_mismatched_image_and_label_counts_is_an_error(tmp_path):
    write_mnist(tmp_path, 5, 4)
    with pytest.raises(ValueError, match='holds 5 images but .* holds 4 labels'):
        load_mnist('test', root=tmp_path, download=False)


def test_wrong_kind_of_array_in_place_of_images_is_an_error(tmp_path):
    names = idx.FILES['test']
    write(tmp_path / names[0], idx_bytes(np.zeros((3, 4), np.uint8)), gz=True)
    write(tmp_path / names[1], idx_bytes(np.zeros(3, np.uint8)), gz=True)
    with pytest.raises(ValueError, match=r'expected uint8 images \(N, H, W\)'):
        load_mnist('test', root=tmp_path, download=False)


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=f'into {tmp_path}.*MINIGEN_DATA'):
        load_mnist('train', root=tmp_path, download=False)


def test_failed_download_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setitem(idx.MIRRORS, 'mnist', ['http://127.0.0.1:9/'])  # nothing listens there
    with pytest.raises(FileNotFoundError, match=f'download failed.*into {tmp_path}'):
        load_mnist('test', root=tmp_path)
    assert not any(p.name.endswith('.gz') for p in tmp_path.iterdir())


def test_minigen_data_environment_variable_moves_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('MINIGEN_DATA', str(tmp_path))
    os.makedirs(tmp_path / 'fashion-mnist')
    images, _ = write_mnist(tmp_path / 'fashion-mnist', 3, 3)
    x, _ = load_fashion_mnist('test', download=False)
    assert len(x) == 3 and idx.cache_dir('mnist') == os.path.join(str(tmp_path), 'mnist')
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist('valid', download=False)
