"""minigen/autoencoders/vqvae.py: nearest-code lookup, the straight-through estimator, the two
VQ losses and their gradients in float64, the EMA update on a hand example, dead-code
restarts, perplexity, and tiny VQ-VAEs that learn."""
import numpy as np
import pytest

import autograd
from autograd import gradcheck
from minigen import optim
from minigen.autoencoders.vqvae import VQVAE, VectorQuantizer


def quantizer(k=5, d=3, **kw):
    autograd.manual_seed(0)
    return VectorQuantizer(k, d, **kw).double()


def test_nearest_code_matches_brute_force():
    vq = quantizer(k=7, d=3)
    z = np.random.default_rng(0).normal(size=(50, 3))
    e = vq.codebook.numpy()
    brute = np.argmin(((z[:, None, :] - e[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(vq.nearest(z), brute)
    z_e = autograd.tensor(z.reshape(2, 5, 5, 3).transpose(0, 3, 1, 2))
    z_q, idx, _, _ = vq.eval()(z_e)
    np.testing.assert_array_equal(idx, brute.reshape(2, 5, 5))
    np.testing.assert_allclose(z_q.numpy(), e[brute].reshape(2, 5, 5, 3).transpose(0, 3, 1, 2))


def test_straight_through_passes_decoder_gradient_to_encoder_unchanged():
    vq = quantizer(ema=False).eval()
    r = np.random.default_rng(1)
    z_e = autograd.tensor(r.normal(size=(2, 3, 2, 2)), requires_grad=True)
    upstream = r.normal(size=(2, 3, 2, 2))  # what a decoder would send back to z_q
    z_q, _, _, _ = vq(z_e)
    (z_q * autograd.tensor(upstream)).sum().backward()
    np.testing.assert_array_equal(z_e.grad.numpy(), upstream)
    assert vq.codebook.grad is None or not np.any(vq.codebook.grad.numpy())


def test_vq_losses_match_formula_and_gradcheck_in_float64():
    vq = quantizer(ema=False, beta=0.25).eval()
    r = np.random.default_rng(2)
    z = r.normal(size=(2, 3, 2, 2))
    _, idx, loss, _ = vq(autograd.tensor(z))
    e_k = vq.codebook.numpy()[idx.reshape(-1)]
    rows = z.transpose(0, 2, 3, 1).reshape(-1, 3)
    np.testing.assert_allclose(loss.item(), 1.25 * ((rows - e_k) ** 2).mean(), rtol=1e-12)

    # The stop-gradients make the summed loss differ from its finite differences on purpose
    # (its exact split is tested below); each piece alone is a true derivative: the EMA
    # quantizer's loss (beta * commitment) in z_e, and the codebook loss (beta = 0) in e.
    ema_vq = quantizer(ema=True, beta=0.25, restart_after=0).eval()
    gradcheck(lambda z_e: ema_vq(z_e)[2], [autograd.tensor(z, requires_grad=True)])
    codebook_only = quantizer(ema=False, beta=0.0).eval()

    def codebook_loss(codebook):
        codebook_only._parameters['codebook'] = codebook
        return codebook_only(autograd.tensor(z))[2]

    gradcheck(codebook_loss, [autograd.tensor(codebook_only.codebook.numpy(), requires_grad=True)])


def test_loss_gradients_split_into_codebook_and_commitment():
    """d/dz_e of the VQ loss is the commitment's 2 beta (z_e - e) / M only; d/de_k is the
    codebook loss's 2 sum_{i->k} (e_k - z_i) / M only (the stop-gradients at work)."""
    vq = quantizer(k=4, d=2, ema=False, beta=0.25).eval()
    z = autograd.tensor(np.random.default_rng(3).normal(size=(1, 2, 3, 3)), requires_grad=True)
    _, idx, loss, _ = vq(z)
    loss.backward()
    rows = z.numpy().transpose(0, 2, 3, 1).reshape(-1, 2)
    e = vq.codebook.numpy()
    m = rows.size
    expect_z = 2 * 0.25 * (rows - e[idx.reshape(-1)]) / m
    np.testing.assert_allclose(z.grad.numpy().transpose(0, 2, 3, 1).reshape(-1, 2), expect_z)
    one_hot = np.eye(4)[idx.reshape(-1)]
    expect_e = 2 * (one_hot.sum(0)[:, None] * e - one_hot.T @ rows) / m
    np.testing.assert_allclose(vq.codebook.grad.numpy(), expect_e)


def test_ema_update_matches_formula_on_a_hand_example():
    vq = quantizer(k=2, d=2, ema=True, decay=0.5, eps=0.0, restart_after=0)
    vq.cluster_size.data[:] = [2.0, 1.0]
    vq.embed_sum.data[:] = [[2.0, 0.0], [0.0, 1.0]]
    z = np.array([[1.0, 1.0], [3.0, 1.0], [0.0, 4.0]])
    vq.update_codebook(z, np.array([0, 0, 1]))
    # N = 0.5 [2, 1] + 0.5 [2, 1] = [2, 1];  m_0 = 0.5 [2, 0] + 0.5 [4, 2] = [3, 1]
    # m_1 = 0.5 [0, 1] + 0.5 [0, 4] = [0, 2.5];  eps = 0: N' = N;  e = m / N
    np.testing.assert_allclose(vq.cluster_size.numpy(), [2.0, 1.0])
    np.testing.assert_allclose(vq.embed_sum.numpy(), [[3.0, 1.0], [0.0, 2.5]])
    np.testing.assert_allclose(vq.codebook.numpy(), [[1.5, 0.5], [0.0, 2.5]])
    # Laplace smoothing: N'_k = (N_k + eps) / (sum N + K eps) * sum N
    vq = quantizer(k=2, d=2, ema=True, decay=0.5, eps=0.1, restart_after=0)
    vq.cluster_size.data[:] = [2.0, 0.0]
    vq.embed_sum.data[:] = [[2.0, 0.0], [0.0, 0.0]]
    vq.update_codebook(z[:2], np.array([0, 0]))
    n = np.array([2.0, 0.0])
    n_smooth = (n + 0.1) / (2 + 0.2) * 2
    np.testing.assert_allclose(vq.codebook.numpy(), [[3.0, 1.0], [0.0, 0.0]] / n_smooth[:, None])


def test_ema_codebook_moves_in_training_mode_only():
    vq = quantizer(restart_after=0)
    z = autograd.tensor(np.random.default_rng(4).normal(size=(2, 3, 2, 2)))
    before = vq.codebook.numpy().copy()
    vq.eval()(z)
    np.testing.assert_array_equal(vq.codebook.numpy(), before)
    vq.train()(z)
    assert not np.allclose(vq.codebook.numpy(), before)


@pytest.mark.parametrize('ema', [True, False])
def test_dead_code_is_restarted_to_an_encoder_output(ema):
    vq = quantizer(k=3, d=2, ema=ema, restart_after=2)
    vq.codebook.data[:] = [[0.0, 0.0], [50.0, 50.0], [-50.0, 50.0]]
    if ema:
        vq.embed_sum.data[:] = vq.codebook.data
    z = np.random.default_rng(5).normal(scale=0.1, size=(1, 2, 2, 2))  # all near code 0
    vq.train()(autograd.tensor(z))
    np.testing.assert_array_equal(vq.unused_steps.numpy(), [0, 1, 1])
    assert vq.codebook.numpy()[1, 0] > 40  # not yet restarted
    vq(autograd.tensor(z))
    rows = z.transpose(0, 2, 3, 1).reshape(-1, 2)
    for k in (1, 2):  # both restarted onto rows of z
        assert np.min(np.abs(rows - vq.codebook.numpy()[k]).sum(1)) < 1e-12
    np.testing.assert_array_equal(vq.unused_steps.numpy(), [0, 0, 0])


def test_perplexity_counts_codes_in_use():
    vq = quantizer(k=4, d=2, ema=False).eval()
    vq.codebook.data[:] = [[0, 0], [10, 0], [0, 10], [10, 10]]
    even = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], float).T.reshape(1, 2, 2, 2)
    assert vq(autograd.tensor(even))[3] == pytest.approx(4.0)
    one = np.zeros((1, 2, 2, 2))
    assert vq(autograd.tensor(one))[3] == pytest.approx(1.0)


@pytest.mark.parametrize('ema', [True, False])
def test_tiny_vqvae_lowers_its_loss_on_a_fixed_batch(ema):
    autograd.manual_seed(0)
    model = VQVAE((1, 8, 8), hidden=(8, 8), code_dim=4, num_codes=8, ema=ema, restart_after=5)
    protos = np.random.default_rng(6).uniform(size=(4, 1, 8, 8)) > 0.5
    x = autograd.tensor(np.repeat(protos, 4, axis=0) * 1.0, dtype=autograd.float32)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        out = model.loss(x)
        opt.zero_grad()
        out['loss'].backward()
        opt.step()
        losses.append(out['recon'].item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    model.eval()
    tokens = model.encode(x)
    assert tokens.shape == (16, 2, 2) and tokens.max() < 8
    rec = model.reconstruct(x).numpy()
    assert rec.shape == (16, 1, 8, 8) and rec.min() >= 0 and rec.max() <= 1


def test_shape_errors_name_the_class():
    with pytest.raises(ValueError, match=r'vqvae.VQVAE: expected images of shape \(N, 1, 8, 8\)'):
        VQVAE((1, 8, 8), hidden=(8, 8), code_dim=4).loss(autograd.rand(2, 1, 4, 4))
    with pytest.raises(ValueError, match='VectorQuantizer: expected z_e'):
        VectorQuantizer(4, 3)(autograd.rand(2, 2, 2, 2))
