"""DataLoader: every index once an epoch, seeded shuffles, drop_last, devices, transforms."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import autograd
from autograd import backend
from minigen.data.loader import DataLoader


def dataset(n):
    return (np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32),
            np.arange(n), [f'caption {i}' for i in range(n)])


@given(n=st.integers(0, 50), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       shuffle=st.booleans())
def test_an_epoch_visits_each_index_once_in_batches_of_batch_size(n, batch_size, drop_last, shuffle):
    loader = DataLoader(dataset(n), batch_size, shuffle=shuffle, drop_last=drop_last, seed=0)
    batches = list(loader)
    assert len(batches) == len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
    seen = np.concatenate([b[1].numpy() for b in batches]) if batches else np.zeros(0, int)
    assert all(len(b[1]) == batch_size for b in batches[:-1])
    if drop_last:
        assert all(len(b[1]) == batch_size for b in batches)
        assert len(seen) == n - n % batch_size
    else:
        np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(len(seen)))
    for x, y, text in batches:   # the rows of each array stay together
        np.testing.assert_array_equal(x.numpy()[:, 0], y.numpy())
        assert text == [f'caption {i}' for i in y.numpy()]


def test_same_seed_same_order_new_epoch_new_order():
    orders = [[b.numpy()[:, 0].tolist() for b in DataLoader(dataset(40)[0], 8, True, seed=s)]
              for s in (3, 3, 4)]
    assert orders[0] == orders[1] and orders[0] != orders[2]
    loader = DataLoader(dataset(40)[0], 40, shuffle=True, seed=3)
    first, second = (next(iter(loader)).numpy()[:, 0] for _ in range(2))
    assert not np.array_equal(first, second)


def test_manual_seed_fixes_the_order_when_no_seed_is_given():
    def order():
        autograd.manual_seed(11)
        return next(iter(DataLoader(np.arange(30), 30, shuffle=True))).numpy()
    np.testing.assert_array_equal(order(), order())


def test_batches_arrive_as_tensors_on_the_device_with_their_dtypes(device):
    x, y, text = next(iter(DataLoader(dataset(10), 4, device=device)))
    assert isinstance(x, autograd.Tensor) and x.device == device and x.dtype == np.float32
    assert y.device == device and y.dtype == np.int64 and text == ['caption 0', 'caption 1',
                                                                   'caption 2', 'caption 3']
    single = next(iter(DataLoader(dataset(10)[0], 5, device=device)))
    assert isinstance(single, autograd.Tensor) and single.shape == (5, 3)


def test_transform_runs_on_the_device_with_the_loader_generator(device):
    calls = []

    def transform(x, rng):
        calls.append(backend.device_of(x))
        return x + rng.integers(1, 2)            # always 1: checks rng is a Generator
    x, y, _ = next(iter(DataLoader(dataset(6), 6, transform=transform, device=device)))
    np.testing.assert_array_equal(x.numpy(), dataset(6)[0] + 1)
    np.testing.assert_array_equal(y.numpy(), np.arange(6))   # only the first array is transformed
    assert calls == [device]


def test_bad_data_sets_and_batch_sizes_are_clear_errors():
    with pytest.raises(ValueError, match=r'sharing their first dimension, got shapes \[\(4,\), \(5,\)\]'):
        DataLoader((np.zeros(4), np.zeros(5)))
    with pytest.raises(ValueError, match='batch_size must be a positive int'):
        DataLoader(np.zeros(4), batch_size=0)
    with pytest.raises(ValueError, match='shapes'):
        DataLoader(np.float32(3.0))
