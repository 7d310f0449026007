"""minigen/gans/dcgan.py: shapes at each resolution, the calibration net's parameter
count, DCGAN's init, the conditional models' use of the label (concatenation or
conditional batch norm in G, one-hot maps or projection in D), the critic without batch
norm being per-example, and clear errors."""
import numpy as np
import pytest

import autograd as ag
from minigen import nn
from minigen.gans import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator,
                                MLPGenerator)


def count(*modules):
    return sum(p.data.size for m in modules for p in m.parameters())


@pytest.mark.parametrize('size, channels', [(28, 1), (32, 3), (64, 3), (14, 1)])
def test_generator_and_discriminator_shapes_and_ranges(size, channels, device):
    ag.manual_seed(0)
    G = DCGANGenerator(z_dim=16, image_size=size, channels=channels, ngf=8).to(device)
    D = DCGANDiscriminator(image_size=size, channels=channels, ndf=8).to(device)
    x = G(ag.randn(3, 16, device=device))
    assert x.shape == (3, channels, size, size) and x.device == device
    assert np.abs(x.numpy()).max() <= 1  # tanh output
    assert D(x).shape == (3,)


def test_mnist_pair_has_the_calibration_parameter_count():
    """DCGAN at 28 px with ngf 64, ndf 32: G + D = 796,224 parameters (the docstring's figure)."""
    assert count(DCGANGenerator(ngf=64), DCGANDiscriminator(ndf=32)) == 796224


def test_dcgan_init_is_normal_0_002_and_batch_norm_gamma_near_one():
    ag.manual_seed(1)
    G = DCGANGenerator(ngf=64)
    w = G.net[0].weight.numpy()
    assert abs(w.mean()) < 1e-3 and w.std() == pytest.approx(0.02, rel=0.02)
    bn = G.net[1]
    assert isinstance(bn, nn.BatchNorm2d)
    assert bn.weight.numpy().mean() == pytest.approx(1, abs=0.01)
    assert (bn.bias.numpy() == 0).all()
    assert not isinstance(DCGANDiscriminator().features[1], nn.BatchNorm2d)  # no BN first


@pytest.mark.parametrize('conditioning', ['concat', 'batchnorm'])
def test_conditional_generator_uses_the_label(conditioning):
    ag.manual_seed(2)
    G = DCGANGenerator(z_dim=8, ngf=8, num_classes=10, conditioning=conditioning)
    if conditioning == 'batchnorm':  # give the classes different scales and shifts
        G.net[1].gamma.weight.data[...] = np.random.default_rng(0).normal(1, 0.5, (10, 16))
        G.net[1].beta.weight.data[...] = np.random.default_rng(1).normal(0, 0.5, (10, 16))
    z = ag.randn(1, 8).broadcast_to((4, 8))
    x = G(z, ag.tensor([3, 7, 3, 7])).numpy()
    assert x.shape == (4, 1, 28, 28)
    assert not np.allclose(x[0], x[1])   # same z, different class
    np.testing.assert_allclose(x[0], x[2], rtol=1e-5, atol=1e-6)  # same z and class


def test_projection_discriminator_adds_embed_y_dot_pooled_features():
    ag.manual_seed(3)
    D = DCGANDiscriminator(ndf=8, num_classes=10, norm=None, conditioning='projection')
    D.embed.weight.data[...] = np.random.default_rng(0).normal(0, 1, (10, 16))
    same = ag.randn(1, 1, 28, 28).broadcast_to((2, 1, 28, 28))
    scores = D(same, ag.tensor([3, 7])).numpy()
    # D(x, y) - D(x, y') = (embed(y) - embed(y')) . sum_pixels phi(x)
    phi = D.features(same).numpy()[0].sum(axis=(1, 2))
    e = D.embed.weight.numpy()
    np.testing.assert_allclose(scores[0] - scores[1], (e[3] - e[7]) @ phi, rtol=1e-4,
                               atol=1e-5)


def test_concat_discriminator_sees_one_hot_label_maps():
    ag.manual_seed(4)
    D = DCGANDiscriminator(ndf=8, num_classes=10, norm=None)
    assert D.features[0].weight.shape[1] == 1 + 10
    same = ag.randn(1, 1, 28, 28).broadcast_to((3, 1, 28, 28))
    scores = D(same, ag.tensor([3, 7, 3])).numpy()
    assert abs(scores[0] - scores[1]) > 1e-6 and scores[0] == pytest.approx(scores[2])
    W = D.features[0].weight.data
    W[:, 1 + 7] = W[:, 1 + 3]  # give class 7 the filters of class 3: the scores agree
    scores = D(same, ag.tensor([3, 7, 3])).numpy()
    assert scores[0] == pytest.approx(scores[1], rel=1e-6)


@pytest.mark.parametrize('norm', [None, 'layer'])
def test_critic_without_batch_norm_scores_each_example_on_its_own(norm):
    ag.manual_seed(3)
    D = DCGANDiscriminator(ndf=8, norm=norm)
    x = ag.randn(4, 1, 28, 28)
    np.testing.assert_allclose(D(x).numpy()[:2], D(x[:2]).numpy(), rtol=1e-5, atol=1e-6)


def test_mlp_pair_shapes():
    G, D = MLPGenerator(width=16), MLPDiscriminator(width=16)
    assert G(ag.randn(5, 2)).shape == (5, 2) and D(G(ag.randn(5, 2))).shape == (5,)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match='DCGANGenerator: image_size'):
        DCGANGenerator(image_size=30)
    with pytest.raises(ValueError, match="DCGANDiscriminator: norm must be"):
        DCGANDiscriminator(norm='instance')
    with pytest.raises(ValueError, match="DCGANDiscriminator: conditioning must be"):
        DCGANDiscriminator(conditioning='auxiliary')
    with pytest.raises(ValueError, match="DCGANGenerator: conditioning must be"):
        DCGANGenerator(conditioning='film')
    G = DCGANGenerator(z_dim=8, ngf=8)
    with pytest.raises(ValueError, match=r'expected z of shape \(N, 8\)'):
        G(ag.randn(2, 9))
    with pytest.raises(ValueError, match='unconditional'):
        G(ag.randn(2, 8), ag.tensor([0, 1]))
    D = DCGANDiscriminator(ndf=8, num_classes=3)
    with pytest.raises(ValueError, match=r'expected images of shape \(N, 1, 28, 28\)'):
        D(ag.randn(2, 1, 32, 32), ag.tensor([0, 1]))
    with pytest.raises(ValueError, match='needs labels'):
        D(ag.randn(2, 1, 28, 28))
    with pytest.raises(ValueError, match='MLPDiscriminator: expected points'):
        MLPDiscriminator(width=4)(ag.randn(3, 3))
