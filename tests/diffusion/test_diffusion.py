"""Tests of minigen.diffusion: schedules, q(x_t | x_0), the posterior, the loss, the samplers."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import autograd
from minigen.diffusion import (NoiseSchedule, linear_schedule, cosine_schedule,
                               schedule_from_config, q_sample, q_posterior, training_target,
                               split_prediction, predict_x0, diffusion_loss, drop_condition,
                               TimestepLoss, ddpm_sample, ddim_sample, ddpm_step, ddim_step,
                               ddim_sigma, ClassifierFreeGuidance)

LINEAR = linear_schedule(1000)
# the device fixture only picks 'cpu' or 'cuda': sharing it across examples is safe
DEVICE_OK = [HealthCheck.function_scoped_fixture]


def _t(values, device):
    return autograd.tensor(np.asarray(values, dtype=np.int64), device=device)


# --- schedules -------------------------------------------------------------------------
def test_linear_schedule_is_ho_et_al_linspace_in_float64():
    assert LINEAR.beta.dtype == np.float64
    np.testing.assert_allclose(LINEAR.beta, np.linspace(1e-4, 0.02, 1000), rtol=0, atol=1e-15)
    np.testing.assert_allclose(LINEAR.alpha_bar, np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)),
                               rtol=1e-13)
    short = linear_schedule(500)  # both ends scaled by 1000 / T
    assert short.beta[0] == pytest.approx(2e-4) and short.beta[-1] == pytest.approx(0.04)
    assert (np.diff(LINEAR.alpha_bar) < 0).all()


def test_cosine_schedule_matches_nichol_dhariwal_formula():
    T, s = 100, 0.008
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 for t in range(T + 1)]
    expected = [min(1 - f[t + 1] / f[t], 0.999) for t in range(T)]
    sched = cosine_schedule(T)
    np.testing.assert_allclose(sched.beta, expected, rtol=1e-12, atol=1e-15)
    assert sched.beta.max() <= 0.999 and (np.diff(sched.alpha_bar) < 0).all()


def test_schedule_round_trips_through_its_config():
    for sched in (LINEAR, cosine_schedule(64)):
        again = schedule_from_config(sched.config)
        np.testing.assert_array_equal(again.beta, sched.beta)


def test_bad_schedules_and_timesteps_are_clear_errors(device):
    with pytest.raises(ValueError, match='linear_schedule'):
        linear_schedule(10)
    with pytest.raises(ValueError, match='NoiseSchedule'):
        NoiseSchedule([0.1, 1.5], {'kind': 'custom'})
    x0 = autograd.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match=r'\[0, 1000\).*\[5, 1000\]'):
        q_sample(LINEAR, x0, _t([5, 1000], device), x0)
    with pytest.raises(TypeError, match='integer'):
        q_sample(LINEAR, x0, autograd.tensor([1.0, 2.0], device=device), x0)
    with pytest.raises(ValueError, match=r'steps must be in \[1, 1000\]'):
        LINEAR.ddim_timesteps(1001)


def test_ddim_timesteps_are_rounded_linspace_from_T_minus_1_to_0():
    ts = LINEAR.ddim_timesteps(50)
    assert ts == [int(v) for v in np.round(np.linspace(999, 0, 50))]
    assert ts[0] == 999 and ts[-1] == 0 and len(set(ts)) == 50
    assert LINEAR.ddim_timesteps(1000) == list(range(999, -1, -1))


# --- the forward process and the posterior --------------------------------------------
@settings(max_examples=6)
@given(t=st.integers(0, 999), x0=st.floats(-1, 1))
def test_q_sample_matches_iterating_the_markov_chain(t, x0):
    # x_s = sqrt(1 - beta_s) x_{s-1} + sqrt(beta_s) z, iterated for s = 0..t, by sampling
    rng = np.random.default_rng(t)
    n = 20000
    x = np.full(n, x0)
    for s in range(t + 1):
        x = math.sqrt(1 - LINEAR.beta[s]) * x + math.sqrt(LINEAR.beta[s]) * rng.standard_normal(n)
    x0_t = autograd.tensor(np.full((1, 1), x0))
    tt = _t([t], 'cpu')
    mean = q_sample(LINEAR, x0_t, tt, autograd.zeros(1, 1, dtype=np.float64)).item()
    std = q_sample(LINEAR, x0_t, tt, autograd.ones(1, 1, dtype=np.float64)).item() - mean
    assert abs(x.mean() - mean) < 5 * std / math.sqrt(n)
    assert abs(x.std() - std) < 5 * std / math.sqrt(2 * n)


@settings(max_examples=10)
@given(t=st.integers(1, 999), x0=st.floats(-1, 1), x_t=st.floats(-2, 2))
def test_posterior_matches_bayes_rule_on_a_scalar(t, x0, x_t):
    # q(x_{t-1} | x_t, x_0)  proportional to  q(x_t | x_{t-1}) q(x_{t-1} | x_0), on a fine grid
    beta, ab_prev = LINEAR.beta[t], LINEAR.alpha_bar_prev[t]
    lik_mean, lik_std = x_t / math.sqrt(1 - beta), math.sqrt(beta / (1 - beta))
    prior_mean, prior_std = math.sqrt(ab_prev) * x0, math.sqrt(1 - ab_prev)
    width = 12 * max(lik_std, prior_std)
    grid = np.linspace(min(lik_mean, prior_mean) - width, max(lik_mean, prior_mean) + width, 400001)
    log_p = (-(x_t - math.sqrt(1 - beta) * grid) ** 2 / (2 * beta)
             - (grid - prior_mean) ** 2 / (2 * prior_std ** 2))
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    bayes_mean = (p * grid).sum()
    bayes_var = (p * (grid - bayes_mean) ** 2).sum()
    mean, var = q_posterior(LINEAR, autograd.tensor([[x0]], dtype=np.float64),
                            autograd.tensor([[x_t]], dtype=np.float64), _t([t], 'cpu'))
    assert mean.item() == pytest.approx(bayes_mean, abs=1e-6)
    assert var.item() == pytest.approx(bayes_var, rel=1e-4)


@settings(suppress_health_check=DEVICE_OK)
@given(t=st.lists(st.integers(0, 999), min_size=1, max_size=4),
       objective=st.sampled_from(['eps', 'x0', 'v']))
def test_every_objective_round_trips_to_x0_and_eps(device, t, objective):
    rng = np.random.default_rng(len(t))
    x0 = autograd.tensor(rng.uniform(-1, 1, (len(t), 2, 3)), device=device)
    eps = autograd.tensor(rng.standard_normal((len(t), 2, 3)), device=device)
    tt = _t(t, device)
    x_t = q_sample(LINEAR, x0, tt, eps)
    target = training_target(LINEAR, x0, tt, eps, objective)
    x0_hat, eps_hat = split_prediction(target, x_t, LINEAR.at('alpha_bar', tt, x_t), objective)
    np.testing.assert_allclose(x0_hat.numpy(), x0.numpy(), atol=1e-6)
    np.testing.assert_allclose(eps_hat.numpy(), eps.numpy(), atol=1e-6)
    np.testing.assert_allclose(predict_x0(LINEAR, x_t, tt, target, objective).numpy(),
                               x0.numpy(), atol=1e-6)


# --- the training loss -----------------------------------------------------------------
class _Linear:
    """f(x_t, t) = w * x_t + t / 1000: a model with one weight tensor, for the loss tests."""

    def __init__(self, w):
        self.w = w

    def __call__(self, x_t, t):
        return self.w * x_t + (t.astype(x_t.dtype) / 1000).reshape(-1, 1)


def _numpy_loss(w, x0, eps, t, objective, gamma):
    ab = LINEAR.alpha_bar[t][:, None]
    x_t = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps
    pred = w * x_t + t[:, None] / 1000
    target = {'eps': eps, 'x0': x0, 'v': np.sqrt(ab) * eps - np.sqrt(1 - ab) * x0}[objective]
    loss = ((pred - target) ** 2).mean(axis=1)
    if gamma is not None:
        snr = LINEAR.snr[t]
        loss = loss * {'eps': np.minimum(snr, gamma) / snr, 'x0': np.minimum(snr, gamma),
                       'v': np.minimum(snr, gamma) / (snr + 1)}[objective]
    return loss


@settings(suppress_health_check=DEVICE_OK)
@given(batch=st.integers(1, 4), dim=st.integers(1, 5),
       objective=st.sampled_from(['eps', 'x0', 'v']), gamma=st.sampled_from([None, 5.0]))
def test_diffusion_loss_matches_numpy_and_passes_gradcheck(device, batch, dim, objective, gamma):
    rng = np.random.default_rng(batch * 10 + dim)
    w, x0, eps = (rng.standard_normal((1, dim)), rng.uniform(-1, 1, (batch, dim)),
                  rng.standard_normal((batch, dim)))
    t = rng.integers(0, 1000, batch)

    def loss(w_, x0_, eps_):
        return diffusion_loss(_Linear(w_), LINEAR, x0_, t=_t(t, device), eps=eps_,
                              objective=objective, min_snr_gamma=gamma, reduction='none')

    args = [autograd.tensor(a, device=device) for a in (w, x0, eps)]
    np.testing.assert_allclose(loss(*args).numpy(), _numpy_loss(w, x0, eps, t, objective, gamma),
                               rtol=1e-10)
    assert autograd.gradcheck(loss, args)


def test_a_retrained_or_mismatched_schedule_is_refused():
    model = _Linear(autograd.tensor([[0.5]]))
    x0 = autograd.zeros(2, 1)
    diffusion_loss(model, LINEAR, x0)
    assert model.diffusion_config == {'kind': 'linear', 'T': 1000, 'objective': 'eps'}
    with pytest.raises(ValueError, match="trained with .*'T': 1000.*'T': 500"):
        diffusion_loss(model, linear_schedule(500), x0)
    with pytest.raises(ValueError, match="ddim_sample: the model was trained with .*'T': 1000"):
        ddim_sample(model, linear_schedule(500), x0, steps=5)
    with pytest.raises(ValueError, match="ddpm_sample: .*'objective': 'eps'.*'objective': 'v'"):
        ddpm_sample(model, LINEAR, x0, objective='v')


def test_schedule_identity_survives_a_checkpoint(tmp_path):
    import minigen
    model = _Linear(autograd.tensor([[0.5]]))
    diffusion_loss(model, cosine_schedule(64), autograd.zeros(2, 1), objective='v')
    minigen.save({'diffusion_config': model.diffusion_config}, tmp_path / 'ckpt.npz')
    config = minigen.load(tmp_path / 'ckpt.npz')['diffusion_config']
    restored = _Linear(autograd.tensor([[0.5]]))
    restored.diffusion_config = config
    schedule = schedule_from_config(config)
    np.testing.assert_array_equal(schedule.beta, cosine_schedule(64).beta)
    ddim_sample(restored, schedule, autograd.zeros(2, 1), steps=3, objective='v')
    with pytest.raises(ValueError, match='ddim_sample: the model was trained with'):
        ddim_sample(restored, schedule, autograd.zeros(2, 1), steps=3)  # objective 'eps'


def test_timestep_loss_averages_per_bucket():
    tracker = TimestepLoss(T=1000, buckets=4)
    tracker.update(autograd.tensor([1.0, 3.0, 10.0, 7.0]), _t([0, 249, 500, 999], 'cpu'))
    tracker.update(autograd.tensor([5.0]), _t([999], 'cpu'))
    centres, means = tracker.result()
    np.testing.assert_allclose(centres, [125, 375, 625, 875])
    np.testing.assert_allclose(means, [2.0, np.nan, 10.0, 6.0])


def test_drop_condition_replaces_rows_with_the_null_condition(device):
    autograd.manual_seed(0)
    y = autograd.tensor(np.arange(2000) % 10, device=device)
    assert (drop_condition(y, 10, 0.0).numpy() == y.numpy()).all()
    assert (drop_condition(y, 10, 1.0).numpy() == 10).all()
    dropped = drop_condition(y, 10, 0.3).numpy() == 10
    assert 0.25 < dropped.mean() < 0.35
    context = autograd.randn(4, 3, 2, device=device)
    out = drop_condition(context, autograd.zeros(1, 3, 2, device=device), 1.0)
    assert out.shape == (4, 3, 2) and (out.numpy() == 0).all()


# --- samplers --------------------------------------------------------------------------
def _gaussian_data_model(schedule, mu, s):
    """The exact eps predictor for data x_0 ~ N(mu, s^2): E[eps | x_t] =
    sqrt(1 - ab) (x_t - sqrt(ab) mu) / (ab s^2 + 1 - ab)."""
    def model(x_t, t):
        ab = schedule.at('alpha_bar', t, x_t)
        return (1 - ab) ** 0.5 * (x_t - ab ** 0.5 * mu) / (ab * s * s + 1 - ab)
    return model


@pytest.mark.parametrize('eta, steps', [(None, 200), (0.0, 50), (1.0, 200)])
def test_samplers_with_the_exact_model_recover_gaussian_data(device, eta, steps):
    # eta None: DDPM with beta_tilde; DDIM with eta = 1 is only exact on the full chain
    mu, s = 0.3, 0.5
    sched = linear_schedule(200)
    model = _gaussian_data_model(sched, mu, s)
    autograd.manual_seed(1)
    x_T = autograd.randn(4000, 1, device=device, dtype=np.float64)
    if eta is None:
        x = ddpm_sample(model, sched, x_T, variance='fixed_small', clip_x0=False)
    else:
        x = ddim_sample(model, sched, x_T, steps=steps, eta=eta, clip_x0=False)
    x = x.numpy()
    assert abs(x.mean() - mu) < 0.03 and abs(x.std() - s) < 0.03


def test_ddim_eta1_sigma_is_ddpm_posterior_variance():
    # sigma_t(eta=1)^2 with t' = t - 1 is beta_tilde_t
    sigma = ddim_sigma(LINEAR.alpha_bar[1:], LINEAR.alpha_bar_prev[1:], 1.0)
    np.testing.assert_allclose(sigma ** 2, LINEAR.beta_tilde[1:], rtol=1e-10)


def test_ddim_eta1_over_all_steps_is_ddpm_fixed_small(device):
    sched = linear_schedule(40)

    def model(x_t, t):
        return 0.3 * x_t.tanh() + (t.astype(x_t.dtype) / 40).reshape(-1, 1, 1, 1)

    x_T = autograd.randn(3, 1, 4, 4, device=device, dtype=np.float64)
    autograd.manual_seed(7)
    ddpm = ddpm_sample(model, sched, x_T, variance='fixed_small').numpy()
    autograd.manual_seed(7)
    ddim = ddim_sample(model, sched, x_T, steps=40, eta=1.0).numpy()
    np.testing.assert_allclose(ddim, ddpm, atol=1e-9)


def test_ddim_eta0_is_deterministic_and_ddpm_adds_no_noise_at_t0(device):
    sched = linear_schedule(40)
    model = lambda x_t, t: 0.1 * x_t  # noqa: E731
    x_T = autograd.randn(2, 1, 3, 3, device=device)
    autograd.manual_seed(1)
    a = ddim_sample(model, sched, x_T, steps=7).numpy()
    autograd.manual_seed(2)
    b = ddim_sample(model, sched, x_T, steps=7).numpy()
    np.testing.assert_array_equal(a, b)
    x0 = autograd.zeros(2, 1, 3, 3, device=device)
    autograd.manual_seed(3)
    first = ddpm_step(sched, x_T, 0, x0).numpy()
    autograd.manual_seed(4)
    np.testing.assert_array_equal(first, ddpm_step(sched, x_T, 0, x0).numpy())
    # the last DDIM step (alpha_bar' = 1) returns x0_hat itself
    np.testing.assert_allclose(ddim_step(x0, x_T, 0.9, 1.0).numpy(), 0.0)


def test_sampling_clips_x0_and_records_the_trajectory(device):
    sched = linear_schedule(40)
    model = lambda x_t, t: -5 * x_t  # noqa: E731  (x0_hat far outside [-1, 1])
    frames = []
    x = ddim_sample(model, sched, autograd.randn(2, 1, 3, 3, device=device), steps=10,
                    trajectory=frames, record_every=4)
    assert np.abs(x.numpy()).max() <= 1 + 1e-6
    assert [f[0] for f in frames] == [sched.ddim_timesteps(10)[i] for i in (0, 4, 8, 9)]
    assert all(f[1].shape == (2, 1, 3, 3) and np.abs(f[2]).max() <= 1 for f in frames)


def _conditional_model(x_t, t, y):
    return x_t * (y.astype(x_t.dtype) + 1).reshape(-1, 1) + t.astype(x_t.dtype).reshape(-1, 1)


@settings(suppress_health_check=DEVICE_OK)
@given(scale=st.sampled_from([0.0, 1.0, 3.0]))
def test_cfg_scale0_is_unconditional_and_scale1_is_conditional(device, scale):
    x = autograd.randn(3, 2, device=device, dtype=np.float64)
    t = _t([1, 5, 9], device)
    y = _t([2, 0, 4], device)
    null = autograd.tensor([10], device=device)
    guided = ClassifierFreeGuidance(_conditional_model, scale, y=null)
    cond = _conditional_model(x, t, y).numpy()
    uncond = _conditional_model(x, t, _t([10, 10, 10], device)).numpy()
    np.testing.assert_allclose(guided(x, t, y=y).numpy(), uncond + scale * (cond - uncond),
                               rtol=1e-12, atol=1e-12)
