"""SimCLR (minigen/contrastive/simclr.py) and the probes (minigen/metrics/probe.py): NT-Xent
against a float64 loop over its definition, its minimum, gradients through the whole
loss, and kNN / linear-probe accuracy on features with a known answer."""
import numpy as np
import pytest

import autograd
from minigen.contrastive.encoders import ResNetEncoder
from minigen.metrics.probe import knn_accuracy, linear_probe_accuracy
from minigen.contrastive.simclr import SimCLR, nt_xent


def nt_xent_reference(z1, z2, tau):
    """Eq. (1) of Chen et al. 2020, term by term: views stacked [z1; z2], positive of i is
    i + N (mod 2N), denominator over k != i, averaged over the 2N anchors."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        j = (i + n2 // 2) % n2
        sim = [z[i] @ z[k] / (np.linalg.norm(z[i]) * np.linalg.norm(z[k])) / tau
               for k in range(n2)]
        denom = sum(np.exp(sim[k]) for k in range(n2) if k != i)
        total += -np.log(np.exp(sim[j]) / denom)
    return total / n2


@pytest.mark.parametrize('tau', [0.1, 0.5, 1.0])
def test_nt_xent_matches_definition(tau):
    rng = np.random.default_rng(0)
    z1, z2 = rng.standard_normal((5, 3)) * 3, rng.standard_normal((5, 3))
    got = nt_xent(autograd.tensor(z1, dtype=autograd.float64),
                  autograd.tensor(z2, dtype=autograd.float64), tau).item()
    assert got == pytest.approx(nt_xent_reference(z1, z2, tau), rel=1e-10)


def test_nt_xent_float32_and_device(device):
    rng = np.random.default_rng(1)
    z1, z2 = rng.standard_normal((8, 4)), rng.standard_normal((8, 4))
    got = nt_xent(autograd.tensor(z1, device=device), autograd.tensor(z2, device=device), 0.5)
    assert got.item() == pytest.approx(nt_xent_reference(z1, z2, 0.5), rel=1e-5)


def test_nt_xent_stable_at_small_temperature():
    rng = np.random.default_rng(2)
    z1 = autograd.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    loss = nt_xent(z1, autograd.tensor(rng.standard_normal((4, 3))), 1e-3)
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(z1.grad.numpy()))


def test_nt_xent_minimum_when_views_coincide():
    """Identical views with orthogonal (well separated) embeddings: the positive has
    cosine 1, every negative 0, so l = -log(e^{1/tau} / (e^{1/tau} + 2N - 2)), the
    smallest value the loss takes for these negatives, and it beats any perturbation."""
    n, tau = 4, 0.2
    z = np.eye(n, 6)
    got = nt_xent(autograd.tensor(z, dtype=autograd.float64),
                  autograd.tensor(z, dtype=autograd.float64), tau).item()
    e = np.exp(1 / tau)
    assert got == pytest.approx(-np.log(e / (e + 2 * n - 2)), rel=1e-12)
    rng = np.random.default_rng(3)
    for _ in range(5):
        z2 = z + 0.3 * rng.standard_normal(z.shape)
        assert nt_xent(autograd.tensor(z), autograd.tensor(z2), tau).item() > got
    # and as tau -> 0 the loss of coinciding, separated views goes to 0
    assert nt_xent(autograd.tensor(z), autograd.tensor(z), 0.01).item() < 1e-10


def test_nt_xent_gradcheck():
    rng = np.random.default_rng(4)
    z1, z2 = (autograd.tensor(rng.standard_normal((3, 4)), dtype=autograd.float64,
                              requires_grad=True) for _ in range(2))
    autograd.gradcheck(lambda a, b: nt_xent(a, b, 0.5), [z1, z2])


def test_nt_xent_bad_input():
    with pytest.raises(ValueError, match='nt_xent'):
        nt_xent(autograd.randn(3, 4), autograd.randn(2, 4))
    with pytest.raises(ValueError, match='temperature'):
        nt_xent(autograd.randn(3, 4), autograd.randn(3, 4), 0.0)


def _tiny_simclr():
    autograd.manual_seed(0)
    enc = ResNetEncoder(in_channels=1, widths=(2, 4), groups=2)
    return SimCLR(enc, proj_dim=3, proj_hidden=4, temperature=0.5).to(dtype=autograd.float64)


def test_simclr_whole_loss_gradcheck_wrt_views():
    model = _tiny_simclr()
    rng = np.random.default_rng(5)
    x1, x2 = (autograd.tensor(rng.random((3, 1, 6, 6)), requires_grad=True) for _ in range(2))
    autograd.gradcheck(model.loss, [x1, x2], atol=1e-6, rtol=1e-4)


def test_simclr_whole_loss_gradient_wrt_every_parameter():
    """Directional derivative of the loss along a random direction in parameter space:
    backward's g . d against central differences (float64)."""
    model = _tiny_simclr()
    rng = np.random.default_rng(6)
    x1, x2 = (autograd.tensor(rng.random((3, 1, 6, 6))) for _ in range(2))
    params = list(model.parameters())
    model.zero_grad()
    model.loss(x1, x2).backward()
    dirs = [rng.standard_normal(p.shape) for p in params]
    analytic = sum((p.grad.numpy() * d).sum() for p, d in zip(params, dirs))
    eps, base = 1e-6, [p.data.copy() for p in params]

    def shifted(s):
        for p, b, d in zip(params, base, dirs):
            p.data[...] = b + s * d
        with autograd.no_grad():
            return model.loss(x1, x2).item()
    numeric = (shifted(eps) - shifted(-eps)) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_simclr_forward_and_features():
    model = _tiny_simclr()
    h, z = model(autograd.randn(2, 1, 6, 6, dtype=autograd.float64))
    assert h.shape == (2, 4) and z.shape == (2, 3)
    assert model.features(np.zeros((5, 1, 6, 6))).shape == (5, 4)
    assert model.training


def test_simclr_learns_to_match_views():
    """A few Adam steps on fixed views lower the loss."""
    from minigen.optim import Adam
    autograd.manual_seed(0)
    model = SimCLR(ResNetEncoder(in_channels=1, widths=(4, 8), groups=2), proj_dim=8)
    rng = np.random.default_rng(7)
    x = rng.random((8, 1, 8, 8)).astype(np.float32)
    x1, x2 = autograd.tensor(x), autograd.tensor(x + 0.05 * rng.standard_normal(x.shape).astype(np.float32))
    opt = Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = model.loss(x1, x2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5


def _clusters(seed, n=200, d=8, k=4, spread=0.3):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 2
    y = rng.integers(k, size=n)
    return centres[y] + spread * rng.standard_normal((n, d)), y


def test_knn_accuracy():
    x, y = _clusters(0)
    assert knn_accuracy(x[:150], y[:150], x[150:], y[150:], k=5) == 1.0
    # labels that have nothing to do with the features: about chance
    y_rand = np.random.default_rng(1).integers(4, size=200)
    assert knn_accuracy(x[:150], y_rand[:150], x[150:], y_rand[150:], k=5) < 0.5
    # k = 1 on the training set itself is perfect (each point is its own neighbour)
    assert knn_accuracy(x, y, x, y, k=1) == 1.0


def test_knn_matches_bruteforce_vote():
    rng = np.random.default_rng(2)
    a, ya, b, yb = rng.standard_normal((30, 3)), rng.integers(3, size=30), \
        rng.standard_normal((10, 3)), rng.integers(3, size=10)
    an, bn = a / np.linalg.norm(a, axis=1)[:, None], b / np.linalg.norm(b, axis=1)[:, None]
    pred = []
    for q in bn:
        nn = np.argsort(-(an @ q))[:5]
        counts = np.bincount(ya[nn], minlength=3)
        best = np.flatnonzero(counts == counts.max())
        pred.append(best[np.argmax([(an[nn][ya[nn] == c] @ q).sum() for c in best])])
    assert knn_accuracy(a, ya, b, yb, k=5) == pytest.approx(np.mean(np.array(pred) == yb))


def test_linear_probe_accuracy():
    x, y = _clusters(3, n=300, spread=0.8)
    acc = linear_probe_accuracy(x[:200], y[:200], x[200:], y[200:], steps=200)
    assert acc > 0.95
    # a linearly separable but not cluster-shaped problem: a half-space
    rng = np.random.default_rng(4)
    x = rng.standard_normal((400, 5))
    y = (x @ np.array([1.0, -2.0, 0.5, 0, 0]) > 0).astype(int)
    assert linear_probe_accuracy(x[:300], y[:300], x[300:], y[300:], steps=300) > 0.95
    with pytest.raises(ValueError, match='linear_probe_accuracy'):
        linear_probe_accuracy(x[:10], y[:9], x[:5], y[:5])
