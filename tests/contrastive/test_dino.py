"""DINO (minigen/contrastive/dino.py): the loss against a NumPy loop over eq. 3, its
gradients, the weight-normalised last layer, the centre's EMA (eq. 4), the teacher's EMA
of the student and its schedule, no gradient into the teacher, the KoLeo term (against
NumPy, its gradients, what it adds to the loss), and a tiny run that lowers its loss."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd
from autograd.testing import assert_gradients_close
from minigen.contrastive.dino import (DINO, DINOHead, WeightNormLinear, dino_loss,
                                      koleo_loss, teacher_momentum)
from minigen.contrastive.vit import ViT
from minigen.optim import AdamW


def _softmax(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def dino_loss_reference(student, teacher, center, tau_s, tau_t):
    """Eq. 3 term by term: every teacher view i against every other student view v."""
    total, pairs = 0.0, 0
    for i, t in enumerate(teacher):
        p_t = _softmax((t - center) / tau_t)
        for v, s in enumerate(student):
            if v != i:
                total += np.mean(-(p_t * np.log(_softmax(s / tau_s))).sum(-1))
                pairs += 1
    return total / pairs


@pytest.mark.parametrize('n_local, n_teacher', [(0, 2), (3, 2), (2, 1)])
def test_dino_loss_matches_numpy(n_local, n_teacher):
    rng = np.random.default_rng(n_local)
    student = [rng.standard_normal((4, 6)) for _ in range(2 + n_local)]
    teacher = [rng.standard_normal((4, 6)) for _ in range(n_teacher)]
    center = rng.standard_normal((1, 6)) * 0.3
    got = dino_loss([autograd.tensor(s) for s in student], [autograd.tensor(t) for t in teacher],
                    autograd.tensor(center), 0.1, 0.04).item()
    assert got == pytest.approx(dino_loss_reference(student, teacher, center, 0.1, 0.04),
                                rel=1e-10)


@settings(max_examples=8)
@given(b=st.integers(1, 3), k=st.integers(2, 5), views=st.integers(2, 4), seed=st.integers(0, 99))
def test_dino_loss_gradients_reach_the_student_only(b, k, views, seed):
    rng = np.random.default_rng(seed)
    student = [autograd.tensor(rng.standard_normal((b, k)), requires_grad=True)
               for _ in range(views)]
    teacher = [autograd.tensor(rng.standard_normal((b, k)), requires_grad=True) for _ in range(2)]
    center = rng.standard_normal(k) * 0.1
    assert_gradients_close(lambda *s: dino_loss(list(s), teacher, center, 0.1, 0.5), *student)
    dino_loss(student, teacher, center).backward()
    assert all(t.grad is None for t in teacher)                   # the teacher is detached


def test_dino_loss_refuses_bad_arguments():
    s = [autograd.randn(2, 3) for _ in range(3)]
    with pytest.raises(ValueError, match='dino_loss: needs at least 2 student views'):
        dino_loss(s[:1], s[:1], np.zeros(3))
    with pytest.raises(ValueError, match='temperatures must be > 0'):
        dino_loss(s, s[:2], np.zeros(3), teacher_temp=0)


@settings(max_examples=8)
@given(n=st.integers(1, 3), d_in=st.integers(1, 4), d_out=st.integers(1, 4),
       seed=st.integers(0, 99))
def test_weight_norm_linear_is_cosines_and_gradchecks(n, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    layer = WeightNormLinear(d_in, d_out).to(dtype=autograd.float64)
    v = rng.standard_normal((d_out, d_in))
    x = rng.standard_normal((n, d_in))
    layer.weight_v.data[...] = v
    want = x @ (v / np.linalg.norm(v, axis=1, keepdims=True)).T
    np.testing.assert_allclose(layer(autograd.tensor(x)).numpy(), want, rtol=1e-10)

    def forward(x, v):
        layer.weight_v = v
        return layer(x)
    assert_gradients_close(forward, autograd.tensor(x), autograd.tensor(v))


def test_head_outputs_are_cosines_with_unit_directions():
    autograd.manual_seed(0)
    head = DINOHead(8, out_dim=5, hidden=16, bottleneck=4)
    out = head(autograd.randn(3, 8)).numpy()
    assert out.shape == (3, 5) and np.all(np.abs(out) <= 1 + 1e-6)
    assert [type(m).__name__ for m in head.mlp] == ['Linear', 'GELU', 'Linear', 'GELU', 'Linear']


def _dino(**kw):
    autograd.manual_seed(0)
    vit = ViT(in_channels=1, image_size=8, patch_size=4, width=8, depth=1, heads=2)
    return DINO(vit, out_dim=6, hidden=8, bottleneck=4, **kw)


def _crops(rng, b=3, n_local=2):
    return ([autograd.tensor(rng.random((b, 1, 8, 8), dtype=np.float32)) for _ in range(2)]
            + [autograd.tensor(rng.random((b, 1, 4, 4), dtype=np.float32))
               for _ in range(n_local)])


def test_the_teacher_gets_no_gradient_and_follows_the_student_by_ema():
    model = _dino()
    assert all(not p.requires_grad for p in model.teacher.parameters())
    loss, _ = model.loss(_crops(np.random.default_rng(0)))
    loss.backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert all(p.grad is not None for p in model.student.parameters())
    opt = AdamW(model.student.parameters(), lr=0.1)
    opt.step()
    before = [p.numpy().copy() for p in model.teacher.parameters()]
    student = [p.numpy() for p in model.student.parameters()]
    model.update_teacher(0.9)
    for t0, s, t1 in zip(before, student, model.teacher.parameters()):
        np.testing.assert_allclose(t1.numpy(), 0.9 * t0 + 0.1 * s, rtol=1e-5, atol=1e-7)


def test_the_centre_is_an_ema_of_the_teacher_outputs():
    """Eq. 4, c <- m c + (1 - m) mean over both global crops' teacher outputs; without
    centring the centre stays 0 and is not used."""
    rng = np.random.default_rng(1)
    model = _dino(center_momentum=0.8)
    c0 = rng.standard_normal((1, 6)).astype(np.float32)
    model.center.data[...] = c0
    crops = _crops(rng)
    with autograd.no_grad():
        t = model.teacher(autograd.cat(crops[:2], axis=0)).numpy()       # (2B, K)
    model.loss(crops)
    np.testing.assert_allclose(model.center.numpy(), 0.8 * c0 + 0.2 * t.mean(0, keepdims=True),
                               rtol=1e-5, atol=1e-7)
    plain = _dino(centering=False)
    plain.loss(crops)
    assert np.all(plain.center.numpy() == 0)


def test_the_reported_entropy_and_kl_add_up_to_the_loss():
    """H(P_t, P_s) = H(P_t) + KL(P_t || P_s), averaged over the same pairs."""
    model = _dino()
    loss, stats = model.loss(_crops(np.random.default_rng(2)))
    assert stats['teacher_entropy'] + stats['kl'] == pytest.approx(loss.item(), rel=1e-4)
    assert 0 < stats['teacher_entropy'] < math.log(6) and stats['kl'] >= 0


def test_teacher_momentum_rises_from_its_base_to_one_along_a_cosine():
    m = [teacher_momentum(k, 10, 0.99) for k in range(11)]
    assert m[0] == pytest.approx(0.99) and m[10] == pytest.approx(1.0)
    assert m[5] == pytest.approx(0.995) and all(a < b for a, b in zip(m, m[1:]))


def test_a_tiny_dino_run_lowers_its_loss():
    """One fixed batch of crops, 10 AdamW steps and the teacher's EMA (momentum from 0.996):
    the cross entropy falls, most of all its KL part, the part the student controls (the
    teacher's entropy moves with the centre)."""
    model = _dino()
    opt = AdamW(model.student.parameters(), lr=3e-3, weight_decay=0.0)
    crops = _crops(np.random.default_rng(3), b=8)
    losses, kls = [], []
    for step in range(10):
        loss, stats = model.loss(crops)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.update_teacher(teacher_momentum(step, 10, 0.996))
        losses.append(loss.item())
        kls.append(stats['kl'])
    assert np.mean(losses[5:]) < 0.6 * losses[0], losses
    assert np.mean(kls[5:]) < 0.2 * kls[0], kls


def test_features_are_the_teacher_backbone_s():
    model = _dino()
    x = np.random.default_rng(4).random((5, 1, 8, 8), dtype=np.float32)
    h = model.features(x, batch_size=2)
    assert h.shape == (5, 8)
    with autograd.no_grad():
        np.testing.assert_allclose(h, model.teacher[0](autograd.tensor(x)).numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_mean_pooled_features_average_the_patch_tokens():
    model = _dino()
    x = np.random.default_rng(5).random((3, 1, 8, 8), dtype=np.float32)
    with autograd.no_grad():
        tokens = model.teacher[0].forward_features(autograd.tensor(x)).numpy()
    np.testing.assert_allclose(model.features(x, pool='mean'), tokens[:, 1:].mean(1),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="DINO.features: pool must be 'cls' or 'mean'"):
        model.features(x, pool='max')


def koleo_reference(z, eps=1e-8):
    """-mean_i log sqrt(min_{j != i} ||u_i - u_j||^2 + eps), u the L2-normalised rows."""
    u = z / np.linalg.norm(z, axis=1, keepdims=True)
    d2 = ((u[:, None] - u[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    return -np.mean(np.log(np.sqrt(d2.min(1) + eps)))


@settings(max_examples=10)
@given(n=st.integers(2, 6), d=st.integers(2, 5), seed=st.integers(0, 99))
def test_koleo_matches_numpy_and_gradchecks(n, d, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d))
    assert koleo_loss(autograd.tensor(z)).item() == pytest.approx(koleo_reference(z), rel=1e-10)
    w = rng.standard_normal()                        # a random upstream gradient
    assert_gradients_close(lambda z: koleo_loss(z) * w, autograd.tensor(z))


def test_koleo_steps_push_the_closest_pair_apart_and_bad_input_is_refused():
    z = autograd.tensor(np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]]), requires_grad=True)
    koleo_loss(z).backward()
    moved = z.numpy() - 0.01 * z.grad.numpy()
    u = moved / np.linalg.norm(moved, axis=1, keepdims=True)
    u0 = z.numpy() / np.linalg.norm(z.numpy(), axis=1, keepdims=True)
    assert np.linalg.norm(u[0] - u[1]) > np.linalg.norm(u0[0] - u0[1])
    with pytest.raises(ValueError, match=r'koleo_loss: needs features \(n, d\) with n >= 2'):
        koleo_loss(autograd.randn(1, 4))


def test_the_koleo_weight_adds_the_term_of_each_global_crop_s_student_features():
    crops = _crops(np.random.default_rng(6))
    plain_loss, _ = _dino().loss(crops)
    model = _dino(koleo_weight=0.3)
    loss, stats = model.loss(crops)
    with autograd.no_grad():
        h = [model.student[0](c) for c in crops[:2]]
    want = sum(koleo_loss(f).item() for f in h)
    assert stats['koleo'] == pytest.approx(want, rel=1e-5)
    assert loss.item() == pytest.approx(plain_loss.item() + 0.3 * want, rel=1e-5)
