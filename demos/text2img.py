"""Latent diffusion and text-to-image: a small Stable Diffusion drawing what a caption asks.

Rombach, Blattmann, Lorenz, Esser & Ommer 2022, "High-Resolution Image Synthesis with
Latent Diffusion Models" (arXiv:2112.10752), on the `shapes` images (32x32) and captions.
1. A KL autoencoder (Sec. 3.1) x -> z = E(x) of shape (4, 8, 8), D(z) ~ x, trained first,
   then frozen; the latents are rescaled to unit variance (Sec. 4.3.2),
       scale = 1 / std(z) over >= 1,000 training latents,  z <- scale * E(x).
2. A UNet on the latents (Sec. 3.2-3.3) reading the caption y through a text encoder
   tau_theta by cross-attention, trained on
       L_LDM = E_{E(x), eps, t} || eps - eps_theta(z_t, t) ||^2                    (2)
       L_LDM = E_{E(x), y, eps, t} || eps - eps_theta(z_t, t, tau_theta(y)) ||^2   (3)
   (here in the v parametrisation of Salimans & Ho 2022, arXiv:2202.00512), the caption
   replaced by "" one time in ten, so that at sampling classifier-free guidance
   (Ho & Salimans 2022, arXiv:2207.12598) can use
       eps~ = eps(z_t, t, null) + s (eps(z_t, t, c) - eps(z_t, t, null)),
   null = tau_theta("") or, with --negative, tau_theta(negative caption).
Samples: DDIM (Song et al. 2020, arXiv:2010.02502) by default, --sampler ddpm for all T.
tau_theta is a small TextTransformer trained jointly, or with --clip PATH the frozen text
tower of demos/clip.py's model. --unconditional drops the text (eq. 2). The training set
leaves out minigen.data.compositions.HELD_OUT_PAIRS (e.g. every red triangle); the samples
are scored on them separately by the shapes classifier (minigen.metrics, four heads).

    python -m demos.text2img [--preset quick|full] [--clip PATH] [--unconditional]
        [--prompt "a large red circle in the top left" ...] [--negative CAPTION]
        [--guidance S] [--sampler ddim|ddpm] [--steps N] [--ae-steps N] [--resume] ...

Writes to --out: samples.npy + captions.txt, prompts.png (rows: prompts, columns: seeds),
guidance.png (s = 1, 2, 4, 7), trajectory.gif, reconstructions.png, latents.png, loss.png,
metrics.json and checkpoint.npz (both stages; --resume continues a killed run).
"""
import argparse
import os
import time

import numpy as np

import autograd
import minigen.nn as nn
from minigen import viz
from minigen.data.compositions import HELD_OUT_PAIRS, split_compositions
from minigen.data.shapes import make_shapes
from minigen.data.tokenizer import Tokenizer
from minigen.contrastive.encoders import TextTransformer
from minigen.diffusion import (AutoencoderKL, LatentDiffusion, UNet, diffusion_loss,
                               linear_schedule, load_clip_text_encoder, reconstruction_metrics)
from minigen.diffusion.text_to_image import freeze
from minigen.metrics import attribute_accuracy, fid, load_feature_net
from minigen.optim import Adam, EMA, LambdaLR, linear_warmup
from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, existing_path,
                               fixed_noise, in_batches, non_negative_float, parse_run_args,
                               positive_int, resolve_preset, to_unit, write_captions,
                               write_metrics, write_samples)

PRESETS = {
    'quick': dict(ae_steps=1200, ae_batch_size=16, ae_lr=2e-3, ae_channels=16, steps=2400,
                  batch_size=32, lr=1e-3, warmup=100, ema=0.995, base_channels=48,
                  text_width=64, text_layers=2, n_train=20000, samples=240, guidance=3.0,
                  sample_steps=50, checkpoint_every=100),
    'full': dict(ae_steps=6000, ae_batch_size=64, ae_lr=1e-3, ae_channels=64, steps=30000,
                 batch_size=128, lr=3e-4, warmup=1000, ema=0.999, base_channels=128,
                 text_width=128, text_layers=4, n_train=50000, samples=2000, guidance=4.0,
                 sample_steps=50, checkpoint_every=1000),
}
UNSEEN = ('a large red triangle in the center', 'a small blue circle in the top left',
          'a large green square at the bottom')


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap, 'text2img', PRESETS, datasets=('shapes',))
    for flag, kind, what in (('--steps', count, 'latent UNet steps in all (0: draw only)'),
                             ('--ae-steps', count, 'autoencoder steps in all'),
                             ('--batch-size', positive_int, None),
                             ('--base-channels', positive_int, 'UNet width'),
                             ('--ae-channels', positive_int, 'autoencoder width'),
                             ('--text-width', positive_int, None),
                             ('--n-train', positive_int, None),
                             ('--samples', positive_int, 'images to score'),
                             ('--guidance', non_negative_float, None),
                             ('--sample-steps', positive_int, 'DDIM steps'),
                             ('--checkpoint-every', positive_int,
                              'steps between checkpoints; SIGINT/SIGTERM also save')):
        ap.add_argument(flag, type=kind, help=what)
    ap.add_argument('--sampler', choices=('ddim', 'ddpm'), default='ddim')
    ap.add_argument('--clip', type=existing_path, metavar='PATH',
                    help="demos.clip's run: its frozen text tower")
    ap.add_argument('--unconditional', action='store_true', help='no text (eq. 2)')
    ap.add_argument('--no-pooled', action='store_true',
                    help='cross-attention only (Stable Diffusion 1.x): no pooled caption in temb')
    ap.add_argument('--prompt', action='append', help='draw just these captions (repeatable)')
    ap.add_argument('--negative', help='a negative prompt: guidance steers away from it')
    ap.add_argument('--seeds', type=positive_int, default=6, help='columns of prompts.png')
    ap.add_argument('--timesteps', type=positive_int, default=1000,
                    help='T of the linear schedule')
    args = parse_run_args(ap, argv)  # --device is the default device from here on
    if args.unconditional and (args.clip or args.prompt or args.negative):
        ap.error('--unconditional takes no --clip, --prompt or --negative')
    if args.sample_steps is not None and args.sample_steps > args.timesteps:
        ap.error(f'--sample-steps {args.sample_steps}: DDIM takes at most --timesteps '
                 f'({args.timesteps}) steps')
    return args


def build(args, hp):
    """The autoencoder, the latent model (UNet + text encoder), their optimizers, the
    learning-rate warm-up and the EMA of the UNet and a trainable text encoder. The
    latent model's optimizer takes its trainable parameters while the first stage is
    frozen; the first stage is then unfrozen for its own training (stage 1)."""
    autograd.manual_seed(args.seed)
    ae = AutoencoderKL(3, 4, downsample_factor=4, base_channels=hp['ae_channels'])
    tok, text = Tokenizer(), None
    if args.clip:
        text = load_clip_text_encoder(args.clip)
    elif not args.unconditional:
        text = TextTransformer(tok.vocab_size, tok.context_length, width=hp['text_width'],
                               layers=hp['text_layers'], eot_token=tok.eot, pad_token=tok.pad)
    pooled = text.width if text and not args.no_pooled else None  # Imagen: caption into temb
    unet = UNet(4, resolution=8, base_channels=hp['base_channels'], channel_mults=(1, 2),
                attention_resolutions=(8, 4), context_dim=text.width if text else None,
                pooled_dim=pooled)
    ldm = LatentDiffusion(unet, linear_schedule(args.timesteps), text, text and tok, ae,
                          objective='v', unconditional=args.unconditional).to(args.device)
    opt = Adam(ldm.trainable_parameters(), lr=hp['lr'])
    for p in ae.parameters():
        p.requires_grad_(True)
    ae_opt = Adam(list(ae.parameters()), lr=hp['ae_lr'])
    averaged = nn.ModuleList([unet] + ([text] if ldm.text_encoder_trainable else []))
    return (ae, ldm, opt, ae_opt, LambdaLR(opt, linear_warmup(hp['warmup'])),
            EMA(averaged, decay=hp['ema']))


def load_data(args, hp):
    """Training images and captions without the held-out pairs; test images (seen / held)."""
    train, _ = split_compositions(make_shapes(hp['n_train'], size=32, seed=args.seed))
    seen, held = split_compositions(make_shapes(max(2000, 8 * hp['samples']), 32,
                                                seed=args.seed + 777))
    return train, seen, held


def train_first_stage(run, hp):
    """The first stage: L1 + L2 + 1e-6 KL (first_stage.kl_reg_loss) on random batches."""
    x = autograd.tensor(run.train.images * 2 - 1, device=run.device)
    bar = viz.progress(range(run.ae_step, hp['ae_steps']), 'autoencoder')
    for step in bar:
        idx = autograd.randint(0, len(x), (hp['ae_batch_size'],), device=run.device)
        loss = run.ae.loss(x[idx])['loss']
        run.ae_opt.zero_grad()
        loss.backward()
        run.ae_opt.step()
        run.ae_losses.append(loss.item())
        run.ae_step = step + 1
        run.checkpoints.step_done(run.ae_step)


def fit_scale(run):
    """Freeze the autoencoder and set scale = 1 / std(z) over >= 1,000 training images."""
    freeze(run.ae)
    n = max(1000, min(2000, len(run.train.images)))
    images = run.train.images[np.arange(n) % len(run.train.images)] * 2 - 1
    run.ae.fit_scale_factor(images)
    run.stage = 'latent'
    checkpoint(run)


def encode_training_set(run):
    """q(z|x) of every training image, once: its mean and std (N, 4, 8, 8), so that each
    step draws z = scale (mean + std eps) without running the frozen encoder again (the
    reference encodes every batch; the draw is the same)."""
    def moments(x):
        q = run.ae.encode(x)
        return autograd.cat([q.mean, q.std], axis=1)
    mean, std = np.split(in_batches(moments, run.train.images * 2 - 1, run.device, batch=250),
                         2, axis=1)
    return (autograd.tensor(mean, device=run.device), autograd.tensor(std, device=run.device))


def train_latent(run, hp):
    """Eq. (3) (eq. (2) --unconditional) on random batches of training latents and captions."""
    mean, std = encode_training_set(run)
    ids = run.ldm.tokenize(run.train.captions) if not run.ldm.unconditional else None
    bar = viz.progress(range(run.step, hp['steps']), 'latent UNet')
    for step in bar:
        idx = autograd.randint(0, len(mean), (hp['batch_size'],), device=run.device)
        eps = autograd.randn(hp['batch_size'], *run.ldm.latent_shape, device=run.device)
        z0 = run.ae.scale_factor * (mean[idx] + std[idx] * eps)  # scale * a draw of q(z|x)
        loss = run.ldm.latent_loss(z0, None if ids is None else ids[idx.numpy()])
        run.opt.zero_grad()
        loss.backward()
        run.opt.step()
        run.lr_schedule.step()
        run.ema.update()
        run.losses.append(loss.item())
        run.step = step + 1
        run.checkpoints.step_done(run.ae_step + run.step)


def checkpoint(run):
    run.checkpoints.save(run.ae_step + run.step)


def saved_progress(run):
    """What a checkpoint keeps beside the state: the stage, each stage's step, the losses."""
    return dict(stage=run.stage, ae_step=run.ae_step, latent_step=run.step,
                losses=np.array(run.losses), ae_losses=np.array(run.ae_losses))


def draw(run, captions, args, hp, seed, trajectory=None, guidance=None, x_T=None):
    """Images in [0, 1] for `captions` (or len(captions) unconditional samples), EMA weights."""
    with run.ema.average_parameters(), autograd.no_grad():
        run.ldm.train(False)
        x = run.ldm.sample(None if args.unconditional else list(captions),
                           guidance=hp['guidance'] if guidance is None else guidance,
                           negative=args.negative, steps=hp['sample_steps'], sampler=args.sampler,
                           n=len(captions), seed=seed, trajectory=trajectory, x_T=x_T,
                           record_every=max(1, hp['sample_steps'] // 10))
    return to_unit(x).astype(np.float32)


def pictures(run, args, hp):
    """prompts.png, guidance.png, trajectory.gif, reconstructions.png, latents.png, loss.png."""
    out, k = run.out, args.seeds
    prompts = args.prompt or [run.seen.captions[i] for i in range(3)] + list(UNSEEN)
    grid = draw(run, [p for p in prompts for _ in range(k)], args, hp, args.seed + 1)
    viz.save_image(grid, os.path.join(out, 'prompts.png'), nrow=k, row_labels=prompts)
    x_T = fixed_noise(args.seed + 2, (len(prompts) * 2,) + run.ldm.latent_shape, run.device)
    sweep = [draw(run, [p for p in prompts for _ in range(2)], args, hp, args.seed + 2, None, s,
                  x_T) for s in (1, 2, 4, 7)]
    viz.save_panels(sweep, [f's = {s}' for s in (1, 2, 4, 7)], os.path.join(out, 'guidance.png'),
                    nrow=2)
    trajectory = []
    last = draw(run, prompts[:4], args, hp, args.seed + 3, trajectory)
    viz.save_trajectory_gif(run.ldm.decode_trajectory(trajectory), last,
                            os.path.join(out, 'trajectory.gif'), scale=3, duration=250,
                            label='z_t | z0_hat decoded, t = {t}')
    real = run.seen.images[:8]
    x = autograd.tensor(real * 2 - 1, device=run.device)
    rec = to_unit(run.ae.reconstruct(x))
    viz.save_image(np.concatenate([real, rec]), os.path.join(out, 'reconstructions.png'),
                   nrow=8, row_labels=['images', 'D(E(x))'])
    viz.save_latent_channels(real[:4], run.ae.encode_latents(x[:4], sample=False).numpy(),
                             os.path.join(out, 'latents.png'))
    if run.losses:
        viz.save_loss_curve(run.losses, os.path.join(out, 'loss.png'), label='v loss')


def step_seconds(run, hp, reps=2):
    """Seconds per training step (forward + backward) of the latent UNet on E(x) and of a
    pixel UNet of the same width on the same images x, with the same captions' context."""
    n = min(hp['batch_size'], 8)
    x = autograd.tensor(run.seen.images[:n] * 2 - 1, device=run.device)
    with autograd.no_grad():
        cond = {} if run.ldm.unconditional else run.ldm.text_conditions(run.seen.captions[:n])
    pixel = UNet(3, resolution=32, base_channels=hp['base_channels'], channel_mults=(1, 2),
                 attention_resolutions=(32, 16), context_dim=run.ldm.unet.context_dim,
                 pooled_dim=run.ldm.unet.pooled_dim)
    times = {}
    for name, net, z in (('latent', run.ldm.unet, run.ae.encode_latents(x)),
                         ('pixel', pixel.to(run.device), x)):
        began = time.time()
        for _ in range(reps):
            diffusion_loss(net, run.ldm.schedule, z, objective='v', **cond).backward()
        times[f'{name}_unet_seconds_per_step'] = round((time.time() - began) / reps, 3)
    return times


def evaluate(run, args, hp):
    """Samples for test captions (seen and held-out compositions) and their metrics; the
    real images of the same captions give the accuracy floor and FID's reference."""
    n_held = min(len(run.held.images), hp['samples'] // 4)
    n_seen = hp['samples'] - n_held
    captions = run.seen.captions[:n_seen] + run.held.captions[:n_held]
    samples = draw(run, captions, args, hp, args.seed + 4)
    real = np.concatenate([run.seen.images[:n_seen], run.held.images[:n_held]])
    net = load_feature_net('shapes')
    seen, held = run.seen.attrs, run.held.attrs
    m = {'accuracy': attribute_accuracy(net, samples[:n_seen], seen),
         'accuracy_held_out_compositions': attribute_accuracy(net, samples[n_seen:], held),
         'real_accuracy': attribute_accuracy(net, run.seen.images[:n_seen], seen),
         'real_accuracy_held_out_compositions': attribute_accuracy(
             net, run.held.images[:n_held], held),
         'fid': float(fid(net.features(real), net.features(samples))),
         'n_seen': n_seen, 'n_held_out': n_held}
    if args.clip:
        m['clip_score'] = clip_score(args.clip, samples, captions)
        m['clip_score_real'] = clip_score(args.clip, run.seen.images[:n_seen], captions[:n_seen])
    return samples, captions, m


def clip_score(path, images, captions):
    """minigen.metrics.clip_score with the CLIP model of demos/clip.py's run at `path`."""
    import minigen
    from minigen.metrics import clip_score as score
    from demos.clip import build as build_clip
    ckpt = minigen.load(path if path.endswith('.npz') else os.path.join(path, 'checkpoint.npz'))
    model = build_clip(Tokenizer(), ckpt['config'], 0, 'cpu')
    model.load_state_dict(ckpt['state']['model'])
    return score(images, captions, model.eval())


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)
    began = time.time()
    run = argparse.Namespace(out=args.out, device=args.device, stage='first_stage', ae_step=0,
                             step=0, losses=[], ae_losses=[])
    run.train, run.seen, run.held = load_data(args, hp)
    run.ae, run.ldm, run.opt, run.ae_opt, run.lr_schedule, run.ema = build(args, hp)
    run.state = {'ae': run.ae, 'ae_opt': run.ae_opt, 'ldm': run.ldm, 'opt': run.opt,
                 'lr_schedule': run.lr_schedule, 'ema': run.ema}
    run.config = {k: hp[k] for k in ('ae_channels', 'base_channels', 'text_width', 'text_layers',
                                     'n_train')} | {'clip': args.clip, 'T': args.timesteps,
                                                    'unconditional': args.unconditional,
                                                    'pooled': run.ldm.unet.pooled_dim is not None}
    run.checkpoints = TrainingCheckpoints(args, 'text2img', run.config, run.state,
                                          hp['checkpoint_every'], lambda: saved_progress(run))
    _, saved = run.checkpoints.resume()
    if saved:
        run.stage, run.ae_step, run.step = saved['stage'], saved['ae_step'], saved['latent_step']
        run.losses, run.ae_losses = list(saved['losses']), list(saved['ae_losses'])
    with run.checkpoints:  # SIGINT/SIGTERM: save at the end of the step, then stop
        if run.stage == 'first_stage':
            train_first_stage(run, hp)
            fit_scale(run)
        train_latent(run, hp)
    checkpoint(run)
    train_seconds = time.time() - began
    pictures(run, args, hp)
    if args.prompt:
        samples = draw(run, args.prompt, args, hp, args.seed + 4)
        captions, m = args.prompt, {}
    else:
        samples, captions, m = evaluate(run, args, hp)
        m |= step_seconds(run, hp) | reconstruction_metrics(
            run.ae, run.seen.images[:500] * 2 - 1)
    write_samples(args.out, samples, 'text2img')
    write_captions(args.out, captions)
    return write_metrics(args.out, {
        'settings': vars(args) | hp, 'scale_factor': float(run.ae.scale_factor.item()),
        'ae_step': run.ae_step, 'step': run.step, 'held_out_pairs': HELD_OUT_PAIRS,
        'train_seconds': round(train_seconds, 1), **m,
        'final_loss': float(np.mean(run.losses[-100:])) if run.losses else None,
        'seconds': round(time.time() - began, 1)})


if __name__ == '__main__':
    main()
