"""minigen/gans/cyclegan.py and the least-squares loss: the cycle loss is zero for inverse
maps (and not otherwise), the identity loss for identity maps; the history pool passes
images through until full, then returns an earlier image half of the time; the total is
GAN + 10 cycle + 5 identity; a tiny CycleGAN lowers its cycle and identity losses;
least squares against NumPy; clear errors."""
import numpy as np
import pytest

import autograd as ag
from minigen import optim
from minigen.gans.cyclegan import CycleGAN, ImagePool, cycle_loss, identity_loss
from minigen.gans.losses import lsgan_discriminator_loss, lsgan_generator_loss


def test_least_squares_losses_match_numpy_and_pull_the_right_way():
    rng = np.random.default_rng(0)
    r_np, f_np = rng.uniform(-2, 2, 7), rng.uniform(-2, 2, 7)
    r = ag.tensor(r_np, dtype=ag.float64, requires_grad=True)
    f = ag.tensor(f_np, dtype=ag.float64, requires_grad=True)
    d = lsgan_discriminator_loss(r, f)
    assert d.item() == pytest.approx(((r_np - 1) ** 2).mean() + (f_np ** 2).mean(), abs=1e-12)
    assert lsgan_generator_loss(f).item() == pytest.approx(((f_np - 1) ** 2).mean(), abs=1e-12)
    d.backward()  # dD/dr = 2 (r - 1) / N: toward 1;  dD/df = 2 f / N: toward 0
    np.testing.assert_allclose(r.grad.numpy(), 2 * (r_np - 1) / 7, rtol=1e-12)
    np.testing.assert_allclose(f.grad.numpy(), 2 * f_np / 7, rtol=1e-12)
    with pytest.raises(ValueError, match=r'lsgan_generator_loss: expected .* \(N,\)'):
        lsgan_generator_loss(ag.zeros(2, 1))


@pytest.mark.parametrize('G, F', [(lambda x: -x, lambda y: -y),
                                  (lambda x: 2 * x + 1, lambda y: (y - 1) / 2),
                                  (lambda x: ag.cat([x[:, 1:], x[:, :1]], axis=1),   # rotate the
                                   lambda y: ag.cat([y[:, -1:], y[:, :-1]], axis=1))])  # channels
def test_cycle_loss_is_zero_for_inverse_maps(G, F):
    rng = np.random.default_rng(1)
    x, y = (ag.tensor(rng.standard_normal((4, 3, 8, 8))),
            ag.tensor(rng.standard_normal((4, 3, 8, 8))))
    assert cycle_loss(G, F, x, y).item() == pytest.approx(0, abs=1e-12)
    assert cycle_loss(G, lambda v: v, x, y).item() > 0.1       # F not G's inverse


def test_identity_loss_is_zero_for_identity_maps_only():
    rng = np.random.default_rng(2)
    x, y = (ag.tensor(rng.standard_normal((2, 3, 8, 8))),
            ag.tensor(rng.standard_normal((2, 3, 8, 8))))
    assert identity_loss(lambda v: v, lambda v: v, x, y).item() == 0
    # |G(y) - y| + |F(x) - x| with G = F = -v: 2 E|y| + 2 E|x|
    want = 2 * (np.abs(y.numpy()).mean() + np.abs(x.numpy()).mean())
    assert identity_loss(lambda v: -v, lambda v: -v, x, y).item() == pytest.approx(want)


def stamped(start, n):
    """n 1x1x1 images whose value is their index: start, ..., start + n - 1."""
    return ag.tensor(np.arange(start, start + n, dtype=np.float64).reshape(n, 1, 1, 1))


def test_pool_returns_the_new_images_until_it_is_full():
    pool = ImagePool(50, seed=0)
    for start in range(0, 50, 10):
        np.testing.assert_array_equal(pool.query(stamped(start, 10)).numpy(),
                                      stamped(start, 10).numpy())
    assert len(pool.images) == 50


def test_full_pool_returns_an_earlier_image_with_probability_one_half():
    """10,000 queries after the pool is full: the fraction answered with an earlier image
    is 1/2 within 4 standard errors (sqrt(1/4 / 10^4) = 0.005, so 0.45 would fail); each
    earlier image was stored before, returned at most once, and replaced by the new one."""
    pool = ImagePool(50, seed=3)
    pool.query(stamped(0, 50))
    returned = np.concatenate([pool.query(stamped(50 + 8 * k, 8)).numpy().ravel()
                               for k in range(1250)])
    asked = np.arange(50, 10050)
    earlier = returned != asked
    assert abs(earlier.mean() - 0.5) < 4 * np.sqrt(0.25 / 10000), earlier.mean()
    assert (returned[earlier] < asked[earlier]).all()
    assert np.unique(returned).size == returned.size   # taken out when returned
    assert len(pool.images) == 50


def test_pool_state_round_trip_repeats_the_answers():
    a = ImagePool(5, seed=4)
    a.query(stamped(0, 7))
    b = ImagePool(5, seed=99)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.query(stamped(7, 20)).numpy(), b.query(stamped(7, 20)).numpy())


def test_total_is_gan_plus_10_cycle_plus_5_identity():
    ag.manual_seed(5)
    model = CycleGAN(x_channels=1, y_channels=1, image_size=16, ngf=4, ndf=4, num_downs=3)
    x, y = ag.randn(2, 1, 16, 16), ag.randn(2, 1, 16, 16)
    total, terms, fake_x, fake_y = model.generator_objective(x, y)
    assert set(terms) == {'gan', 'cycle', 'identity'}
    want = terms['gan'].item() + 10 * terms['cycle'].item() + 5 * terms['identity'].item()
    assert total.item() == pytest.approx(want, rel=1e-5)
    cyc = cycle_loss(model.G, model.F, x, y).item()
    assert terms['cycle'].item() == pytest.approx(cyc, rel=1e-5)
    assert fake_y.shape == fake_x.shape == (2, 1, 16, 16)
    assert model.discriminator_objective(x, y, fake_x, fake_y).item() > 0
    assert model.D_Y(y).shape == (2, 1, 6, 6)     # PatchGAN on one image


def test_tiny_cyclegan_lowers_its_cycle_and_identity_losses():
    """X: white squares on black; Y: the same inverted (unpaired batches of 8, 16 px)."""
    ag.manual_seed(6)
    rng = np.random.default_rng(0)

    def squares(n):
        img = -np.ones((n, 1, 16, 16), np.float32)
        for i, (a, b) in enumerate(rng.integers(1, 9, (n, 2))):
            img[i, 0, a:a + 6, b:b + 6] = 1
        return img
    x, y = ag.tensor(squares(8)), ag.tensor(-squares(8))
    model = CycleGAN(1, 1, image_size=16, ngf=8, ndf=8, num_downs=3)
    gens = list(model.G.parameters()) + list(model.F.parameters())
    discs = list(model.D_X.parameters()) + list(model.D_Y.parameters())
    opt_g = optim.Adam(gens, lr=2e-3, betas=(0.5, 0.999))
    opt_d = optim.Adam(discs, lr=2e-3, betas=(0.5, 0.999))
    history = []
    for _ in range(30):
        total, terms, fake_x, fake_y = model.generator_objective(x, y)
        opt_g.zero_grad()
        total.backward()
        opt_g.step()
        d_loss = model.discriminator_objective(x, y, fake_x, fake_y)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        history.append(terms['cycle'].item() + terms['identity'].item())
    assert np.mean(history[-5:]) < 0.5 * history[0], history


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match='ImagePool: pool_size'):
        ImagePool(-1)
    with pytest.raises(ValueError, match='CycleGAN: the identity loss needs'):
        CycleGAN(x_channels=1, y_channels=3)
