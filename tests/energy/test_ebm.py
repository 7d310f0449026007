"""minigen/energy/ebm.py: the replay buffer draws 5% fresh noise and otherwise past chains,
overwrites its oldest entries and round-trips its state; the contrastive-divergence loss is
its formula; a tiny EBM lowers its loss and moves its energy minimum onto the data."""
import numpy as np
import pytest

import autograd
from minigen.energy import (EnergyMLP, ReplayBuffer, contrastive_divergence_loss,
                            negative_samples)
from minigen.optim import Adam


def test_the_buffer_draws_the_fresh_fraction_from_noise_and_the_rest_from_past_chains():
    autograd.manual_seed(0)
    buffer = ReplayBuffer(100, (3,), low=-1.0, high=1.0, fresh=0.05)
    x, fresh = buffer.sample(10)
    assert fresh.all() and np.abs(x.numpy()).max() <= 1  # empty: every chain is new
    buffer.push(np.full((100, 3), 7.0, np.float32))
    x, fresh = buffer.sample(20000)
    x = x.numpy()
    from_buffer = (x == 7.0).all(axis=1)
    np.testing.assert_array_equal(from_buffer, ~fresh)
    assert abs(fresh.mean() - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 20000)
    assert np.abs(x[fresh]).max() <= 1 and x[fresh].std() > 0.5  # uniform on [-1, 1]


def test_the_buffer_overwrites_its_oldest_chains_and_round_trips_its_state():
    buffer = ReplayBuffer(4, (1,), fresh=0.0)
    buffer.push(np.array([[1.0], [2.0], [3.0]], np.float32))
    buffer.push(np.array([[4.0], [5.0]], np.float32))
    assert len(buffer) == 4 and sorted(buffer.storage[:, 0]) == [2.0, 3.0, 4.0, 5.0]
    copy = ReplayBuffer(4, (1,), fresh=0.0)
    copy.load_state_dict(buffer.state_dict())
    np.testing.assert_array_equal(copy.storage, buffer.storage)
    assert (copy.size, copy.position) == (buffer.size, buffer.position)
    autograd.manual_seed(1)
    x, _ = copy.sample(50)
    assert set(x.numpy()[:, 0]) <= {2.0, 3.0, 4.0, 5.0}
    with pytest.raises(ValueError, match='ReplayBuffer.push'):
        buffer.push(np.zeros((2, 3), np.float32))


def test_negative_samples_run_the_chains_and_write_them_back():
    autograd.manual_seed(2)
    buffer = ReplayBuffer(8, (2,), low=-1.0, high=1.0)
    energy = EnergyMLP(2, 8, 1)
    x = negative_samples(energy, buffer, 8, 3, 1e-2, clamp=(-1.0, 1.0))
    np.testing.assert_array_equal(buffer.storage, x.numpy())
    assert not x.requires_grad


def test_contrastive_divergence_loss_is_its_formula():
    e_pos, e_neg = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.25, -0.5])
    loss = contrastive_divergence_loss(autograd.tensor(e_pos), autograd.tensor(e_neg), 0.1)
    want = e_pos.mean() - e_neg.mean() + 0.1 * ((e_pos ** 2).mean() + (e_neg ** 2).mean())
    assert loss.item() == pytest.approx(want, rel=1e-12)


def test_a_tiny_ebm_lowers_its_loss_and_puts_its_energy_minimum_on_the_data():
    """Data at (1, -1) with std 0.1, chains from U(-2, 2): the loss falls below its start
    (the data's energy pushed below the samples'), the energy is lower at the data than at
    the far corner of the box, and most persistent chains gather at the data."""
    autograd.manual_seed(0)
    rng = np.random.default_rng(0)
    data = autograd.tensor((rng.standard_normal((256, 2)) * 0.1 + [[1.0, -1.0]])
                           .astype(np.float32))
    energy = EnergyMLP(2, 32, 2)
    opt = Adam(energy.parameters(), lr=3e-3, betas=(0.0, 0.999))
    buffer = ReplayBuffer(1000, (2,), low=-2.0, high=2.0)
    losses = []
    for _ in range(150):
        x_neg = negative_samples(energy, buffer, 128, 20, 5e-3, clamp=(-2.0, 2.0))
        x_pos = data[autograd.randint(0, 256, (128,))]
        loss = contrastive_divergence_loss(energy(x_pos), energy(x_neg), 0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with autograd.no_grad():
        e = energy(autograd.tensor(np.array([[1.0, -1.0], [-1.8, 1.8]], np.float32))).numpy()
    assert e[0] < e[1] - 1.0
    assert np.mean(losses[:10]) > np.mean(losses[-10:])
    # uniform chains on the box lie 2.1 from the data on average; the persistent ones gather
    assert np.median(np.linalg.norm(buffer.storage - [1.0, -1.0], axis=1)) < 1.0
