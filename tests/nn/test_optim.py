"""Optimizers, clipping, schedules and EMA against their equations.

Each optimizer takes two steps from a fixed point with fixed gradients; the expected
parameters are written out from the equations in the docstring of its file (in NumPy
here, never by calling the optimizer)."""
import math

import numpy as np
import pytest

import autograd as ag
import minigen.nn as nn
import minigen.optim as optim

P0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.5, -1.0, 2.0])
G2 = np.array([-0.3, 0.2, 1.0])


def two_steps(make_optimizer, device, dtype=np.float64):
    """Parameters after two steps from P0 with gradients G1 then G2."""
    p = nn.Parameter(ag.tensor(P0, dtype=dtype, device=device))
    opt = make_optimizer([p])
    for g in (G1, G2):
        p.grad = ag.tensor(g, dtype=dtype, device=device)
        opt.step()
    return p


def test_sgd_plain_step_is_minus_lr_times_gradient(device):
    p = two_steps(lambda ps: optim.SGD(ps, lr=0.1), device)
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.1 * (0.5 - 0.3), -2.0 - 0.1 * (-1.0 + 0.2),
                                           0.5 - 0.1 * (2.0 + 1.0)], rtol=1e-12)


@pytest.mark.parametrize('nesterov', [False, True])
def test_sgd_momentum_and_weight_decay_follow_the_heavy_ball_equations(device, nesterov):
    lr, mu, wd = 0.1, 0.9, 0.01
    p = two_steps(lambda ps: optim.SGD(ps, lr=lr, momentum=mu, weight_decay=wd,
                                       nesterov=nesterov), device)
    g = G1 + wd * P0                  # step 1
    b = g                             # b_1 = g
    p1 = P0 - lr * (g + mu * b if nesterov else b)
    g = G2 + wd * p1                  # step 2
    b = mu * b + g                    # b_2 = mu b_1 + g
    p2 = p1 - lr * (g + mu * b if nesterov else b)
    np.testing.assert_allclose(p.numpy(), p2, rtol=1e-12)


def test_adam_first_step_moves_each_weight_by_lr_against_its_gradient_sign(device):
    p = nn.Parameter(ag.tensor(P0, dtype=np.float64, device=device))
    opt = optim.Adam([p], lr=0.1)
    p.grad = ag.tensor(G1, dtype=np.float64, device=device)
    opt.step()  # m_hat = g, v_hat = g^2: the step is lr g / |g| (bias correction at work)
    np.testing.assert_allclose(p.numpy(), [0.9, -1.9, 0.4], rtol=1e-7)


@pytest.mark.parametrize('kind', ['Adam', 'AdamW'])
def test_adam_two_steps_match_the_equations_with_bias_correction(device, kind):
    lr, b1, b2, eps, wd = 0.1, 0.8, 0.95, 1e-3, 0.05
    p = two_steps(lambda ps: getattr(optim, kind)(ps, lr=lr, betas=(b1, b2), eps=eps,
                                                  weight_decay=wd), device)
    w, m, v = P0.copy(), 0.0, 0.0
    for t, g in ((1, G1), (2, G2)):
        if kind == 'AdamW':
            w = w * (1 - lr * wd)        # decoupled: decay the weight itself
        else:
            g = g + wd * w               # L2: decay through the gradient
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(p.numpy(), w, rtol=1e-12)


def test_updates_keep_float32_and_the_parameter_object(device):
    p = two_steps(lambda ps: optim.Adam(ps, lr=0.1), device, dtype=np.float32)
    assert p.dtype == np.float32 and p.grad.dtype == np.float32
    q = two_steps(lambda ps: optim.Adam(ps, lr=0.1), device, dtype=np.float64)
    np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-6)
    p = nn.Parameter(ag.tensor(P0, dtype=np.float32, device=device))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = ag.tensor(G1, dtype=np.float32, device=device)
    data, version = p.data, p._version
    opt.step()
    assert p.data is data and p._version == version + 1  # in place, and seen by the engine
    assert opt.state[p]['momentum_buffer'].dtype == np.float32


def test_zero_grad_and_parameters_without_gradient():
    a, b = nn.Parameter(ag.ones(2)), nn.Parameter(ag.ones(2))
    opt = optim.SGD([a, b], lr=1.0)
    a.grad = ag.ones(2)
    opt.step()  # b has no gradient: left alone
    assert a.numpy().tolist() == [0, 0] and b.numpy().tolist() == [1, 1]
    opt.zero_grad(set_to_none=False)
    assert a.grad.numpy().tolist() == [0, 0] and b.grad is None
    opt.zero_grad()
    assert a.grad is None


def test_param_groups_have_their_own_hyperparameters():
    a, b = nn.Parameter(ag.ones(1)), nn.Parameter(ag.ones(1))
    opt = optim.SGD([{'params': [a]}, {'params': [b], 'lr': 0.5}], lr=0.1)
    a.grad, b.grad = ag.ones(1), ag.ones(1)
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.5)


def test_optimizer_arguments_are_checked():
    p = nn.Parameter(ag.ones(1))
    with pytest.raises(ValueError, match='SGD: nesterov=True needs a momentum > 0'):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r'Adam: betas must be two numbers in \[0, 1\)'):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match='AdamW: lr, eps and weight_decay must be >= 0'):
        optim.AdamW([p], lr=-1)
    with pytest.raises(ValueError, match='empty list of parameters'):
        optim.Adam([])
    with pytest.raises(ValueError, match=r'a parameter of shape \(1,\) is listed twice'):
        optim.Adam([p, p])
    with pytest.raises(TypeError, match='must be a Tensor that requires grad'):
        optim.Adam([ag.ones(1)])


@pytest.mark.parametrize('make', [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=0.1),
                                  lambda ps: optim.AdamW(ps, lr=0.1)])
def test_a_gradient_of_the_wrong_shape_is_refused_and_nothing_changes(make):
    a, b = nn.Parameter(ag.ones(3)), nn.Parameter(ag.ones(2, 3))
    opt = make([a, b])
    a.grad, b.grad = ag.ones(3), ag.ones(3)  # b's would broadcast over its (2, 3)
    name = type(opt).__name__
    with pytest.raises(ValueError, match=rf"{name}.step: parameter 1 has shape \(2, 3\) but "
                                         rf"its gradient has shape \(3,\)"):
        opt.step()
    assert a.numpy().tolist() == [1, 1, 1] and (b.numpy() == 1).all() and not opt.state


def test_adam_and_adamw_default_hyperparameters_are_pytorchs():
    """torch.optim.Adam: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0 (plain L2
    off); torch.optim.AdamW: the same with weight_decay 1e-2."""
    p = nn.Parameter(ag.ones(1))
    for kind, wd in ((optim.Adam, 0.0), (optim.AdamW, 1e-2)):
        group = kind([p]).param_groups[0]
        assert (group['lr'], group['betas'], group['eps'], group['weight_decay']) == \
            (1e-3, (0.9, 0.999), 1e-8, wd)


def test_optimizer_state_dict_resumes_the_same_updates(device):
    def fresh():
        ps = [nn.Parameter(ag.tensor(P0, device=device)), nn.Parameter(ag.ones(2, 2, device=device)),
              nn.Parameter(ag.tensor(0.5, device=device))]  # 0-d, as CLIP's logit_scale
        return ps, optim.Adam(ps, lr=0.05, weight_decay=0.1)
    (pa, a), (pb, b) = fresh(), fresh()
    for step in range(4):
        for p, q in zip(pa, pb):
            p.grad = ag.full(p.shape, float(step + 1), device=device)
            q.grad = ag.full(q.shape, float(step + 1), device=device)
        a.step()
        if step >= 2:
            b.step()
        if step == 1:  # b resumes from a's state after two steps
            b.load_state_dict(a.state_dict())
            for p, q in zip(pa, pb):
                q.data[...] = p.data
    for p, q in zip(pa, pb):  # two steps after loading: the moments kept moving
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert b.state[pb[0]]['step'] == 4


def test_loading_a_mismatched_optimizer_state_names_the_problem_and_changes_nothing():
    p = nn.Parameter(ag.ones(3))
    adam = optim.Adam([p], lr=0.1)
    p.grad = ag.ones(3)
    adam.step()
    sgd = optim.SGD([nn.Parameter(ag.ones(3))], lr=0.5, momentum=0.9)
    with pytest.raises(ValueError, match=r"(?s)SGD.load_state_dict.*nothing was loaded.*"
                                         r"hyperparameters.*exp_avg"):
        sgd.load_state_dict(adam.state_dict())
    assert sgd.param_groups[0]['lr'] == 0.5 and not sgd.state
    other = optim.Adam([nn.Parameter(ag.ones(4))], lr=0.2)
    with pytest.raises(ValueError, match=r"state 0 'exp_avg' has shape \(3,\), parameter 0 has \(4,\)"):
        other.load_state_dict(adam.state_dict())
    two = optim.Adam([nn.Parameter(ag.ones(3)), nn.Parameter(ag.ones(3))])
    with pytest.raises(ValueError, match=r'parameters per group: checkpoint \[1\], optimizer \[2\]'):
        two.load_state_dict(adam.state_dict())
    assert other.param_groups[0]['lr'] == 0.2 and not other.state and not two.state


# --- clipping ---------------------------------------------------------------------------
def test_clip_grad_norm_scales_to_max_norm_and_returns_the_norm_before(device):
    a, b, c = (nn.Parameter(ag.zeros(*s, device=device)) for s in ((2,), (1, 1), (3,)))
    a.grad, b.grad = ag.tensor([3.0, 4.0], device=device), ag.tensor([[12.0]], device=device)
    norm = optim.clip_grad_norm_([a, b, c], max_norm=6.5)  # c has no gradient
    assert norm.item() == pytest.approx(13.0)               # sqrt(9 + 16 + 144)
    np.testing.assert_allclose(a.grad.numpy(), [1.5, 2.0], rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), [[6.0]], rtol=1e-6)
    norm = optim.clip_grad_norm_([a, b], max_norm=100.0)  # under the cap: unchanged
    assert norm.item() == pytest.approx(6.5)
    np.testing.assert_allclose(a.grad.numpy(), [1.5, 2.0], rtol=1e-6)
    assert a.grad.dtype == np.float32


# --- schedules --------------------------------------------------------------------------
def lrs_over(scheduler, optimizer, steps):
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]['lr'])
        scheduler.step()
    return out


def test_linear_warmup_rises_from_zero_to_the_base_lr():
    opt = optim.SGD([nn.Parameter(ag.ones(1))], lr=0.2)
    sched = optim.LambdaLR(opt, optim.linear_warmup(4))
    np.testing.assert_allclose(lrs_over(sched, opt, 6), [0, 0.05, 0.1, 0.15, 0.2, 0.2])


def test_cosine_with_warmup_follows_the_half_cosine_to_zero():
    def two_groups():
        return optim.SGD([{'params': [nn.Parameter(ag.ones(1))]},
                          {'params': [nn.Parameter(ag.ones(1))], 'lr': 2.0}], lr=1.0)
    opt = two_groups()
    sched = optim.LambdaLR(opt, optim.cosine_with_warmup(2, 6))
    want = [0, 0.5, 1, 0.5 * (1 + math.cos(math.pi / 4)), 0.5,
            0.5 * (1 + math.cos(3 * math.pi / 4)), 0, 0]
    np.testing.assert_allclose(lrs_over(sched, opt, 8), want, atol=1e-15)
    assert sched.get_last_lr() == [0.0, 0.0]
    with pytest.raises(ValueError, match='needs 0 <= warmup_steps < total_steps'):
        optim.cosine_with_warmup(5, 5)


def test_scheduler_state_dict_resumes_the_schedule():
    opts = [optim.SGD([{'params': [nn.Parameter(ag.ones(1))]},
                       {'params': [nn.Parameter(ag.ones(1))], 'lr': 2.0}], lr=1.0) for _ in range(2)]
    sched, resumed = (optim.LambdaLR(o, optim.cosine_with_warmup(2, 6)) for o in opts)
    for _ in range(3):
        sched.step()
    resumed.load_state_dict(sched.state_dict())
    assert resumed.last_epoch == 3
    assert resumed.get_last_lr() == pytest.approx([0.5 * (1 + math.cos(math.pi / 4)),
                                                   1 + math.cos(math.pi / 4)])
    with pytest.raises(ValueError, match='1 base learning rates for 2 parameter groups'):
        resumed.load_state_dict({'last_epoch': 1, 'base_lrs': [1.0]})


# --- EMA ----------------------------------------------------------------------------------
def test_ema_follows_the_warmed_up_average_formula(device):
    model = nn.Linear(2, 1).to(device)
    ema = optim.EMA(model, decay=0.5)
    shadow = model.weight.numpy().astype(np.float64)
    for t, value in enumerate([1.0, -2.0, 4.0]):
        model.weight.data[...] = value
        ema.update()
        beta = min(0.5, (1 + t) / (10 + t))  # 0.1, 0.1818..., 0.25
        shadow = beta * shadow + (1 - beta) * value
    np.testing.assert_allclose(ag.tensor(ema.shadow['weight']).numpy(), shadow, rtol=1e-6)
    for _ in range(20):  # after the warm-up the decay is the given one
        ema.update()
    assert ema.num_updates == 23


def test_ema_average_parameters_swaps_in_and_restores(device):
    model = nn.Linear(2, 2).to(device)
    ema = optim.EMA(model, decay=0.9)
    with ag.no_grad():
        model.weight.fill_(3.0)
    ema.update()
    live = model.weight.numpy().copy()
    with ema.average_parameters() as m:
        assert m is model
        np.testing.assert_allclose(model.weight.numpy(), ag.tensor(ema.shadow['weight']).numpy())
        assert not np.allclose(model.weight.numpy(), live)
    np.testing.assert_array_equal(model.weight.numpy(), live)
    sampler = nn.Linear(2, 2).to(device)
    ema.copy_to(sampler)
    np.testing.assert_array_equal(sampler.weight.numpy(), ag.tensor(ema.shadow['weight']).numpy())


def test_ema_state_dict_round_trip_and_mismatch():
    model = nn.Linear(2, 2)
    ema = optim.EMA(model, decay=0.99)
    model.weight.data[...] = 1.0
    ema.update()
    other = optim.EMA(nn.Linear(2, 2), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.99 and other.num_updates == 1
    np.testing.assert_array_equal(other.shadow['weight'], ema.shadow['weight'])
    wrong = optim.EMA(nn.Linear(3, 2))
    before = wrong.shadow['weight'].copy()
    with pytest.raises(ValueError,
                       match=r"(?s)EMA.load_state_dict.*weight: average \(2, 2\), model \(2, 3\)"):
        wrong.load_state_dict(ema.state_dict())
    np.testing.assert_array_equal(wrong.shadow['weight'], before)
    with pytest.raises(ValueError, match='(?s)EMA.copy_to.*bias: in the averages, not in the model'):
        ema.copy_to(nn.Linear(2, 2, bias=False))


def test_fused_updates_leave_numpy_arrays_to_the_array_lines():
    """fused.adam and fused.ema are a GPU fast path: on NumPy arrays they do nothing and
    return False, so the optimizer's own lines run."""
    from minigen.optim import fused
    p, g, m, v = (np.full(3, x) for x in (1.0, 0.5, 0.0, 0.0))
    assert not fused.adam(p, g, m, v, 1, 0.1, 0.9, 0.999, 1e-8)
    assert not fused.ema(m, p, 0.9)
    for a, x in zip((p, g, m, v), (1.0, 0.5, 0.0, 0.0)):
        np.testing.assert_array_equal(a, np.full(3, x))


def test_fused_cuda_updates_compile_and_match_the_array_lines(device):
    """On a GPU Adam and EMA run one fused kernel per parameter; it must compile (a failure
    would only warn and fall back) and give the unfused lines' result in float32."""
    if device == 'cpu':
        pytest.skip('the fused kernels are CUDA only')
    from minigen.optim.fused import ADAM_KERNEL, EMA_KERNEL
    rng = np.random.default_rng(0)
    p0, grads = rng.standard_normal(1000), rng.standard_normal((3, 1000))
    results = []
    for dev in ('cpu', device):
        p = nn.Parameter(ag.tensor(p0, dtype=np.float32, device=dev))
        opt = optim.Adam([p], lr=0.01)
        for g in grads:
            p.grad = ag.tensor(g, dtype=np.float32, device=dev)
            opt.step()
        results.append(p.numpy())
    assert ADAM_KERNEL.kernel is not None and not ADAM_KERNEL.failed
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6, atol=1e-6)
    model = nn.Linear(2, 2).to(device)
    optim.EMA(model, decay=0.9).update()
    assert EMA_KERNEL.kernel is not None and not EMA_KERNEL.failed
