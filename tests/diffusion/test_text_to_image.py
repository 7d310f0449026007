"""Tests of minigen.diffusion.text_to_image: the latent diffusion model of Rombach et al. 2022
(arXiv:2112.10752) with text conditioning by cross-attention to tau_theta(y) and classifier-
free guidance (Ho & Salimans 2022, arXiv:2207.12598) -- the guidance identities, the caption
drop rate, the padding mask, the loss against NumPy and its gradient, negative prompts, the
unconditional model, the first stage and a frozen CLIP text tower, bad inputs, and a tiny
model that learns to draw what two captions ask."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd
from autograd import no_grad
import minigen.nn as nn
import minigen.nn.functional as F
from minigen.contrastive.encoders import TextTransformer
from minigen.data.tokenizer import Tokenizer
from minigen.diffusion import UNet, linear_schedule
from minigen.diffusion.text_to_image import LatentDiffusion, freeze, load_clip_text_encoder
from minigen.optim import Adam

from numpy_reference import randomize as _randomize  # non-zero weights everywhere

CAPTIONS = ['a red circle', 'a blue square']
UNET = dict(in_channels=1, resolution=8, base_channels=8, channel_mults=(1,),
            attention_resolutions=(8,), groups=4)


def _model(device, unconditional=False, objective='eps', p_uncond=0.1, T=100, randomize=True,
           first_stage=None, latent=(1, 8), seed=0, pooled=False):
    autograd.manual_seed(seed)
    tok = None if unconditional else Tokenizer(context_length=6)
    text = None if unconditional else TextTransformer(tok.vocab_size, 6, width=8, layers=1,
                                                      heads=2, eot_token=tok.eot)
    unet = UNet(**{**UNET, 'in_channels': latent[0], 'resolution': latent[1]},
                context_dim=None if unconditional else 8, pooled_dim=8 if pooled else None)
    if randomize:
        _randomize(unet, seed)
    model = LatentDiffusion(unet, linear_schedule(T), text, tok, first_stage=first_stage,
                            objective=objective, p_uncond=p_uncond, unconditional=unconditional)
    return model.to(device)


def _np(t):
    return np.asarray(t.numpy(), np.float64)


# --- classifier-free guidance: the identities of eq. (6) of Ho & Salimans -----------------
@pytest.mark.parametrize('pooled', [False, True])
def test_guidance_one_is_the_conditional_and_zero_the_null_prediction(device, pooled):
    model = _model(device, pooled=pooled).double().eval()
    rng = np.random.default_rng(0)
    z = autograd.tensor(rng.standard_normal((2, 1, 8, 8)), device=device)
    t = autograd.tensor([7, 60], device=device)
    with no_grad():
        cond = _np(model.unet(z, t, **model.text_conditions(CAPTIONS)))
        null = _np(model.unet(z, t, **model.text_conditions(['', ''])))
    assert np.abs(cond - null).max() > 1e-3  # the caption matters
    np.testing.assert_array_equal(_np(model.predict(z, t, CAPTIONS, guidance=1.0)), cond)
    np.testing.assert_allclose(_np(model.predict(z, t, CAPTIONS, guidance=0.0)), null,
                               rtol=0, atol=1e-12)
    # eps_tilde = eps(null) + s (eps(c) - eps(null))
    np.testing.assert_allclose(_np(model.predict(z, t, CAPTIONS, guidance=2.5)),
                               null + 2.5 * (cond - null), rtol=0, atol=1e-10)


def test_the_pooled_condition_is_the_end_of_text_state(device):
    """Imagen's pooled text vector: the text encoder's state at <eot>, which read the
    whole caption; it changes the output, and only through the UNet's pooled input."""
    model = _model(device, pooled=True).eval()
    with no_grad():
        cond = model.text_conditions(CAPTIONS)
        ids = model.tokenize(CAPTIONS)
        eot = model.text_encoder.eot_positions(ids)
        states = _np(cond['context'])
        np.testing.assert_array_equal(_np(cond['pooled']), states[np.arange(2), eot])
        np.testing.assert_array_equal(_np(cond['pooled']), _np(model.text_encoder(ids)))
        z, t = autograd.randn(2, 1, 8, 8, device=device), autograd.tensor([5, 50], device=device)
        other = dict(cond, pooled=cond['pooled'] * 0)
        assert np.abs(_np(model.unet(z, t, **cond)) - _np(model.unet(z, t, **other))).max() > 1e-4
    assert set(_model(device).text_conditions(CAPTIONS)) == {'context', 'context_key_padding_mask'}


def test_latent_loss_is_the_loss_on_latents_encoded_once(device):
    """loss(x0) = latent_loss(encode_latents(x0)) at the same t, eps and captions: a run may
    encode its training set once."""
    from minigen.diffusion import AutoencoderKL
    autograd.manual_seed(0)
    ae = _randomize(AutoencoderKL(3, 2, downsample_factor=2, base_channels=8, groups=4), 3, 0.1)
    model = _model(device, first_stage=ae.to(device), latent=(2, 4), pooled=True).eval()
    x = autograd.rand(2, 3, 8, 8, device=device) * 2 - 1
    t, eps = autograd.tensor([3, 70], device=device), autograd.randn(2, 2, 4, 4, device=device)
    with no_grad():
        z = model.first_stage.encode_latents(x, sample=False)
        ae.encode_latents = lambda x_, sample=True: z  # the same z in both
        a = model.loss(x, CAPTIONS, t=t, eps=eps).item()
        b = model.latent_loss(z, CAPTIONS, t=t, eps=eps).item()
    assert a == b
    with pytest.raises(ValueError, match=r'latent_loss: z0 must be a Tensor of latents \(B, 2, 4, 4\)'):
        model.latent_loss(x, CAPTIONS)


def test_a_negative_prompt_replaces_the_null_condition(device):
    model = _model(device).double().eval()
    rng = np.random.default_rng(1)
    z = autograd.tensor(rng.standard_normal((2, 1, 8, 8)), device=device)
    t = autograd.tensor([30, 30], device=device)
    negative = ['a blue square', 'a red circle']
    with no_grad():
        c, m = model.encode_text(CAPTIONS)
        n, nm = model.encode_text(negative)
        cond = _np(model.unet(z, t, context=c, context_key_padding_mask=m))
        neg = _np(model.unet(z, t, context=n, context_key_padding_mask=nm))
    np.testing.assert_allclose(_np(model.predict(z, t, CAPTIONS, 0.0, negative)), neg,
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(_np(model.predict(z, t, CAPTIONS, 4.0, negative)),
                               neg + 4.0 * (cond - neg), rtol=0, atol=1e-10)
    # the empty caption as the negative prompt is plain guidance; one prompt serves all
    np.testing.assert_allclose(_np(model.predict(z, t, CAPTIONS, 4.0, [''])),
                               _np(model.predict(z, t, CAPTIONS, 4.0)), rtol=0, atol=1e-12)


def test_a_negative_prompt_changes_the_samples_and_the_empty_one_does_not(device):
    model = _model(device)
    kw = dict(guidance=3.0, steps=4, seed=0)
    plain = model.sample(CAPTIONS, **kw).numpy()
    empty = model.sample(CAPTIONS, negative='', **kw).numpy()
    away = model.sample(CAPTIONS, negative=['a blue square'] * 2, **kw).numpy()
    np.testing.assert_allclose(empty, plain, rtol=0, atol=1e-6)
    assert np.abs(away - plain).max() > 1e-3


# --- training: the caption drop and the loss of eq. (3) ---------------------------------
@pytest.mark.parametrize('p', [0.1, 0.3])
def test_captions_are_dropped_to_the_empty_caption_at_the_asked_rate(p):
    model = _model('cpu', p_uncond=p)
    autograd.manual_seed(1)
    n = 4000
    ids = model.tokenize(CAPTIONS * (n // 2))
    dropped = model.drop_captions(ids)
    null = model.null_ids(1)[0]
    is_null = (dropped == null).all(1)
    kept = ~is_null
    np.testing.assert_array_equal(dropped[kept], ids[kept])       # the rest untouched
    # binomial: within 4 standard deviations of n p
    assert abs(is_null.sum() - n * p) < 4 * np.sqrt(n * p * (1 - p))
    assert not (model.drop_captions(ids, p_uncond=0.0) == null).all(1).any()
    assert (model.drop_captions(ids, p_uncond=1.0) == null).all(1).all()


def test_training_mode_drops_captions_and_eval_mode_does_not(device):
    model = _model(device, p_uncond=1.0)
    x0 = autograd.randn(2, 1, 8, 8, device=device)
    t, eps = autograd.tensor([5, 80], device=device), autograd.randn(2, 1, 8, 8, device=device)
    dropped = model.train().loss(x0, CAPTIONS, t=t, eps=eps).numpy()
    model.eval()
    np.testing.assert_array_equal(dropped, model.loss(x0, ['', ''], t=t, eps=eps).numpy())
    assert abs(model.loss(x0, CAPTIONS, t=t, eps=eps).numpy() - dropped) > 1e-6


@pytest.mark.parametrize('objective', ['eps', 'x0', 'v'])
def test_loss_is_eq_3_against_numpy(device, objective):
    model = _model(device, objective=objective).double().eval()
    rng = np.random.default_rng(2)
    x0, eps = rng.standard_normal((2, 2, 1, 8, 8))
    t = np.array([3, 71])
    loss = model.loss(autograd.tensor(x0, device=device), CAPTIONS,
                      t=autograd.tensor(t, device=device), eps=autograd.tensor(eps, device=device),
                      reduction='none')
    ab = np.asarray(model.schedule.alpha_bar, np.float64)[t][:, None, None, None]
    z_t = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps                           # eq. (4) on z
    target = {'eps': eps, 'x0': x0, 'v': np.sqrt(ab) * eps - np.sqrt(1 - ab) * x0}[objective]
    with no_grad():
        c, m = model.encode_text(CAPTIONS)
        out = _np(model.unet(autograd.tensor(z_t, device=device),
                             autograd.tensor(t, device=device), context=c,
                             context_key_padding_mask=m))
    np.testing.assert_allclose(_np(loss), ((out - target) ** 2).mean(axis=(1, 2, 3)), rtol=1e-10)


def _shadow(modules_and_names, values):
    """Replace each (module, name) parameter by the Tensor in `values` (instance attributes
    shadow the registered ones), so gradcheck perturbs and differentiates them."""
    for (m, name), v in zip(modules_and_names, values):
        object.__setattr__(m, name, v)


def _unshadow(modules_and_names):
    for m, name in modules_and_names:
        del m.__dict__[name]


@settings(max_examples=3)
@given(batch=st.integers(1, 2), objective=st.sampled_from(['eps', 'v']),
       seed=st.integers(0, 2 ** 16))
def test_loss_gradient_passes_gradcheck(device, batch, objective, seed):
    model = _model(device, objective=objective, seed=seed % 7).double().eval()
    rng = np.random.default_rng(seed)
    x0 = autograd.tensor(rng.standard_normal((batch, 1, 8, 8)), device=device)
    t = autograd.tensor(rng.integers(0, 100, batch), device=device)
    eps = autograd.tensor(rng.standard_normal((batch, 1, 8, 8)), device=device)
    captions = CAPTIONS[:batch]
    cross = model.unet.mid[1].cross.attn
    # tau_theta's token embedding, the cross-attention's W_Q, W_K, W_V and its output map
    targets = [(model.text_encoder.token_embedding, 'weight'), (cross, 'in_proj_weight'),
               (cross.out_proj, 'weight')]
    weights = [getattr(m, n).detach() for m, n in targets]

    def f(x_, *ws):
        _shadow(targets, ws)
        try:  # per-example losses; gradcheck draws a random upstream gradient
            return model.loss(x_, captions, t=t, eps=eps, reduction='none')
        finally:
            _unshadow(targets)

    assert autograd.gradcheck(f, [x0] + weights, mode='direction', seed=seed)


def test_a_tiny_model_lowers_its_loss_and_draws_what_each_caption_asks():
    """Two captions, two distinct 8x8 images (a bright disk on dark, and its inverse):
    after 150 Adam steps, guided DDIM samples for each caption are nearer its own image."""
    model = _model('cpu', objective='v', randomize=False)
    yy, xx = np.mgrid[:8, :8]
    disk = ((yy - 3.5) ** 2 + (xx - 3.5) ** 2 < 6).astype(np.float32)
    images = np.stack([2 * disk - 1, 1 - 2 * disk])[:, None]              # (2, 1, 8, 8)
    opt = Adam(model.trainable_parameters(), lr=5e-3)
    idx = np.arange(4) % 2
    x0 = autograd.tensor(images[idx])
    losses = []
    for _ in range(150):
        loss = model.loss(x0, [CAPTIONS[i] for i in idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.numpy()))
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:5])
    samples = model.sample(CAPTIONS * 2, guidance=2.0, steps=10, seed=1).numpy()
    dist = np.abs(samples[:, None] - images[None]).mean(axis=(2, 3, 4))   # (4 samples, 2)
    assert (dist[[0, 2], 0] < dist[[0, 2], 1]).all(), dist
    assert (dist[[1, 3], 1] < dist[[1, 3], 0]).all(), dist


# --- cross-attention reads the caption's tokens, not its padding --------------------------
def test_padding_tokens_do_not_change_the_prediction(device):
    model = _model(device).eval()
    z, t = autograd.randn(2, 1, 8, 8, device=device), autograd.tensor([10, 90], device=device)
    with no_grad():
        c, m = model.encode_text(CAPTIONS)
        mask = m.numpy()
        assert mask.any() and not mask.all(1).any()
        states = c.numpy()
        noise = np.random.default_rng(3).standard_normal(states.shape).astype(states.dtype)

        def run(context):
            return model.unet(z, t, context=autograd.tensor(context, device=device),
                              context_key_padding_mask=m).numpy()

        out = run(states)
        np.testing.assert_array_equal(run(np.where(mask[..., None], noise, states)), out)
        assert np.abs(run(np.where(mask[..., None], states, noise)) - out).max() > 1e-4


# --- sampling -----------------------------------------------------------------------------
def test_sampling_runs_under_no_grad_is_seeded_and_records_the_latent_trajectory(device):
    model = _model(device)
    state = autograd.backend.get_rng_state()
    trajectory = []
    a = model.sample(CAPTIONS, guidance=2.0, steps=5, eta=0.5, seed=3, trajectory=trajectory)
    assert a.shape == (2, 1, 8, 8) and not a.requires_grad
    assert autograd.backend.get_rng_state()['cpu'] == state['cpu']      # the generator is back
    np.testing.assert_array_equal(model.sample(CAPTIONS, guidance=2.0, steps=5, eta=0.5,
                                               seed=3).numpy(), a.numpy())
    assert [t for t, _, _ in trajectory] == model.schedule.ddim_timesteps(5)
    assert all(z.shape == (2, 1, 8, 8) and z0.shape == (2, 1, 8, 8) for _, z, z0 in trajectory)
    assert model.training and model.unet.training                       # mode restored


def test_ddpm_sampler_and_a_given_x_T(device):
    model = _model(device, T=25)
    x_T = autograd.randn(1, 1, 8, 8, device=device)
    out = model.sample(['a red circle'], guidance=1.5, sampler='ddpm', x_T=x_T, seed=0)
    assert out.shape == (1, 1, 8, 8) and np.isfinite(out.numpy()).all()


def test_unconditional_model_trains_and_samples_without_captions(device):
    model = _model(device, unconditional=True)
    assert model.text_encoder is None and model.unet.context_dim is None
    loss = model.loss(autograd.randn(3, 1, 8, 8, device=device))
    loss.backward()
    assert all(p.grad is not None for p in model.trainable_parameters())
    assert model.sample(n=3, steps=3, seed=0).shape == (3, 1, 8, 8)
    for call in (lambda: model.loss(autograd.randn(1, 1, 8, 8, device=device), ['a']),
                 lambda: model.sample(CAPTIONS, steps=2),
                 lambda: model.sample(steps=2),
                 lambda: model.encode_text(CAPTIONS)):
        with pytest.raises(ValueError, match='LatentDiffusion'):
            call()


# --- the first stage and a frozen text encoder -------------------------------------------
class _PoolFirstStage(nn.Module):
    """A stand-in first stage: z = 2 avgpool2(conv1x1(x)), x = upsample2(z) / 2."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)

    def encode_latents(self, x):
        return 2 * F.avg_pool2d(self.conv(x), 2)

    def decode_latents(self, z):
        return F.interpolate(z[:, :1], scale_factor=2, mode='nearest') / 2


def test_a_first_stage_is_frozen_and_diffusion_runs_on_its_latents(device):
    stage = _PoolFirstStage()
    model = _model(device, first_stage=stage, latent=(2, 4))
    assert all(not p.requires_grad for p in stage.parameters())
    assert not any(p is q for p in model.trainable_parameters() for q in stage.parameters())
    assert not model.train().first_stage.training                       # stays in eval
    x0 = autograd.randn(2, 1, 8, 8, device=device)
    model.loss(x0, CAPTIONS).backward()
    assert all(p.grad is None for p in stage.parameters())
    trajectory = []
    images = model.sample(CAPTIONS, steps=3, seed=0, trajectory=trajectory)
    assert images.shape == (2, 1, 8, 8) and trajectory[0][1].shape == (2, 2, 4, 4)
    frames = model.decode_trajectory(trajectory)
    assert [t for t, _, _ in frames] == [t for t, _, _ in trajectory]
    np.testing.assert_allclose(frames[-1][1], stage.decode_latents(
        autograd.tensor(trajectory[-1][1], device=device)).numpy())
    assert frames[0][2].shape == (2, 1, 8, 8)
    assert model.sample(CAPTIONS, steps=3, seed=0, decode=False).shape == (2, 2, 4, 4)
    with pytest.raises(ValueError, match='encode_latents'):
        model.loss(autograd.randn(2, 1, 4, 4, device=device), CAPTIONS)


def test_with_the_kl_autoencoder_of_first_stage_py(device):
    first_stage = pytest.importorskip('minigen.diffusion.first_stage')
    autograd.manual_seed(0)
    ae = first_stage.AutoencoderKL(in_channels=1, latent_channels=2, downsample_factor=2,
                                   base_channels=8)
    z_shape = ae.latent_shape((1, 8, 8))
    model = _model('cpu', first_stage=ae, latent=(z_shape[0], z_shape[-1])).to(device)
    model.loss(autograd.randn(2, 1, 8, 8, device=device), CAPTIONS).backward()
    assert model.sample(CAPTIONS, steps=2, seed=0).shape == (2, 1, 8, 8)


def _clip_checkpoint(tmp_path):
    """A CLIP checkpoint as demos/clip.py writes it (its build and save_checkpoint)."""
    from demos import clip as clip_demo
    from demos.conventions import save_checkpoint
    hp = dict(widths=(8,), stem_stride=2, text_width=8, text_layers=1, embed_dim=4)
    tok = Tokenizer()
    clip = clip_demo.build(tok, hp, 0, 'cpu')
    save_checkpoint(str(tmp_path), 0, dict(hp, dataset='shapes'), {'model': clip})
    return clip, tok


def test_load_clip_text_encoder_returns_the_frozen_text_tower(tmp_path, device):
    clip, tok = _clip_checkpoint(tmp_path)
    text = load_clip_text_encoder(str(tmp_path))
    assert not text.training and all(not p.requires_grad for p in text.parameters())
    ids = tok.encode(CAPTIONS)
    np.testing.assert_array_equal(text.token_states(ids)[0].numpy(),
                                  clip.text_encoder.token_states(ids)[0].numpy())
    autograd.manual_seed(0)
    unet = UNet(**{**UNET, 'resolution': 8}, context_dim=text.width)
    model = LatentDiffusion(unet, linear_schedule(100), text.to(device), tok).to(device)
    assert not model.text_encoder_trainable
    assert len(model.trainable_parameters()) == len(list(unet.parameters()))
    model.train().loss(autograd.randn(2, 1, 8, 8, device=device), CAPTIONS).backward()
    assert all(p.grad is None for p in text.parameters()) and not text.training
    with pytest.raises(ValueError, match='load_clip_text_encoder'):
        from minigen.checkpoint import save
        save({'state': {'model': {}}}, str(tmp_path / 'other.npz'))
        load_clip_text_encoder(str(tmp_path / 'other.npz'))


def test_freeze_turns_off_gradients_and_training():
    m = freeze(nn.Linear(2, 3))
    assert not m.training and not any(p.requires_grad for p in m.parameters())


# --- bad inputs: a clear error naming LatentDiffusion, and nothing changed ---------------
def test_bad_inputs_raise_clear_errors_and_change_nothing(device):
    model = _model(device)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    x0 = autograd.randn(2, 1, 8, 8, device=device)
    bad = [(lambda: model.loss(x0, ['a red circle']), 'captions for 2 images'),
           (lambda: model.loss(x0), 'one caption per image'),
           (lambda: model.loss(x0, np.zeros((2, 5), np.int64)), 'integer ids'),
           (lambda: model.sample(CAPTIONS, sampler='euler'), 'sampler'),
           (lambda: model.sample(CAPTIONS, guidance=-1.0), 'guidance'),
           (lambda: model.sample(CAPTIONS, guidance=float('nan')), 'guidance'),
           (lambda: model.sample(CAPTIONS, n=3), '2 captions for 3'),
           (lambda: model.sample(CAPTIONS, guidance=2.0, negative=['a', 'a', 'a']),
            'negative'),
           (lambda: model.sample(CAPTIONS, x_T=autograd.randn(2, 1, 4, 4)), 'x_T'),
           (lambda: model.sample(), 'captions'),
           (lambda: model.sample(['a purple unicorn']), 'unknown word')]
    for call, match in bad:
        with pytest.raises(ValueError, match=match):
            call()
    assert getattr(model.unet, 'diffusion_config', None) is None        # no loss was taken
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_bad_construction_raises_clear_errors():
    tok = Tokenizer(context_length=6)
    text = TextTransformer(tok.vocab_size, 6, width=8, layers=1, heads=2, eot_token=tok.eot)
    sched = linear_schedule(100)
    cases = [(dict(unet=UNet(**UNET, context_dim=4), text_encoder=text, tokenizer=tok),
              'context_dim'),
             (dict(unet=UNet(**UNET, context_dim=8, pooled_dim=5), text_encoder=text,
                   tokenizer=tok), r"pooled_dim \(5\) must be None or the text encoder's width"),
             (dict(unet=UNet(**UNET, context_dim=8), text_encoder=text,
                   tokenizer=Tokenizer(context_length=7)), 'tokenizer'),
             (dict(unet=UNet(**UNET, context_dim=8)), 'text_encoder and tokenizer'),
             (dict(unet=UNet(**UNET), unconditional=True, text_encoder=text), 'unconditional'),
             (dict(unet=UNet(**UNET, context_dim=8), unconditional=True), 'context_dim'),
             (dict(unet=UNet(**UNET, pooled_dim=8), unconditional=True), 'pooled_dim=8'),
             (dict(unet=UNet(**UNET, context_dim=8), text_encoder=text, tokenizer=tok,
                   p_uncond=1.5), 'p_uncond'),
             (dict(unet=UNet(**UNET, context_dim=8), text_encoder=text, tokenizer=tok,
                   objective='score'), 'objective'),
             (dict(unet=UNet(**UNET, context_dim=8), text_encoder=text, tokenizer=tok,
                   first_stage=object()), 'encode_latents')]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=f'LatentDiffusion.*{match}'):
            LatentDiffusion(schedule=sched, **kwargs)
