"""minigen.metrics feature nets and evaluate_samples: the shipped classifiers are accurate
on held-out data, their outputs have the promised shapes, and the numbers move the right way."""
import os

import numpy as np
import pytest

from minigen.data.shapes import make_shapes
from minigen.metrics import as_feature_net, evaluate_features, evaluate_samples, load_feature_net
from minigen.metrics.features import WEIGHTS, FeatureNet
from minigen.metrics.train_features import MNIST_ROOT, random_shift


@pytest.fixture(scope='module')
def mnist():
    from minigen.data.idx import load_mnist
    try:
        return load_mnist('test', root=os.path.normpath(MNIST_ROOT), download=False)
    except FileNotFoundError:
        pytest.skip('MNIST test set not found beside the repository (../shared/data/mnist)')


def test_shipped_weights_are_small():
    for name in ('mnist', 'shapes'):
        assert os.path.getsize(os.path.join(WEIGHTS, f'{name}.npz')) < 1_000_000


@pytest.fixture(scope='module')
def held_out(mnist):
    """Features and logits of the last 2,000 MNIST test digits (one forward pass)."""
    feats, logits = load_feature_net('mnist')._run(mnist[0][8000:])
    return feats, logits['digit']


def test_mnist_net_reaches_98_percent_on_the_held_out_2000(mnist, held_out):
    assert (held_out[1].argmax(1) == mnist[1][8000:]).mean() >= 0.98


def test_shapes_net_predicts_every_attribute_of_unseen_images():
    data = make_shapes(300, seed=123)
    net = load_feature_net('shapes')
    for head, floor in (('shape', 0.9), ('color', 0.95), ('size', 0.95), ('position', 0.95)):
        assert (net.predict(data.images, head=head) == data.attrs[head]).mean() >= floor, head
    assert net.probs(data.images[:5]).shape == (5, 5)   # IS uses the shape head


def test_features_and_probs_shapes_and_batching(mnist):
    x = mnist[0][:70]
    net = load_feature_net('mnist')
    f, p = net.features(x), net.probs(x[:, 0])          # (N, H, W) accepted for MNIST
    assert f.shape == (70, 128) and p.shape == (70, 10)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-9)
    small = FeatureNet(net.model, 'mnist', 1, 28, {'digit': 10}, net.feature_scale, batch_size=16)
    np.testing.assert_allclose(small.features(x), f, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 28, 28\)"):
        net.features(np.zeros((2, 3, 28, 28)))


def test_user_callable_plugs_into_evaluate_samples():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 4))

    def extractor(images):
        feats = images.reshape(len(images), -1) @ w
        z = np.exp(feats - feats.max(1, keepdims=True))
        return feats, z / z.sum(1, keepdims=True)

    real, fake = rng.random((60, 1, 4, 4)), rng.random((60, 1, 4, 4)) * 0.5
    out = evaluate_samples(fake, real, extractor, kid_subsets=5)
    assert set(out) >= {'fid', 'kid', 'kid_std', 'is', 'is_std', 'precision', 'recall'}
    same = evaluate_samples(real[::-1].copy(), real, as_feature_net(extractor), kid_subsets=5)
    assert out['fid'] > same['fid']


def test_evaluate_samples_real_split_beats_noise(mnist, held_out):
    # The real set is large (2,000): with few images, outliers' wide k-NN balls swallow noise.
    net, other = load_feature_net('mnist'), mnist[0][:300]
    noise = np.random.default_rng(0).random(other.shape, dtype=np.float32)
    floor = evaluate_features(net.features(other), net.probs(other), held_out[0], kid_subsets=10)
    bad = evaluate_features(net.features(noise), net.probs(noise), held_out[0], kid_subsets=10)
    assert floor['fid'] < bad['fid'] / 5 and floor['kid'] < bad['kid'] / 5
    assert floor['precision'] > 0.5 and bad['precision'] < 0.3 and bad['recall'] < 0.05
    assert floor['recall'] > 0.5 and floor['is'] > 8 > bad['is']


def test_random_shift_moves_images_by_at_most_two_pixels():
    x = np.zeros((4, 1, 8, 8), np.float32)
    x[:, :, 3, 4] = 1
    y = random_shift(x, np.random.default_rng(0))
    assert y.shape == x.shape and y.sum() == 4
    for img in y[:, 0]:
        r, c = np.argwhere(img == 1)[0]
        assert abs(r - 3) <= 2 and abs(c - 4) <= 2


def test_load_feature_net_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match='train_features --dataset mnist'):
        load_feature_net('mnist', path=str(tmp_path / 'missing.npz'))
    with pytest.raises(ValueError, match="'mnist', 'shapes'"):
        load_feature_net('cifar')
    with pytest.raises(TypeError, match='as_feature_net'):
        as_feature_net(3)


def test_real_features_have_unit_mean_square(mnist):
    # feature_scale makes E |h|^2 / D = 1 on the training images (features.py).
    f = load_feature_net('mnist').features(mnist[0][:500])
    assert 0.7 < (f ** 2).mean() < 1.3
