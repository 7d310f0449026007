"""DDPM on images: a UNet learns to remove noise, then turns pure noise into pictures.

Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models" (arXiv:2006.11239),
sampled with DDIM (Song, Meng & Ermon 2020, arXiv:2010.02502) and, with --class-cond,
classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598). Images x_0 in [-1, 1]:

    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps                (eq. 4)
    L_simple = E_{x_0, t ~ U{0..T-1}, eps} || eps - eps_theta(x_t, t [, y]) ||^2   (eq. 14)
    x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_theta) / sqrt(alpha_bar_t), clipped to [-1, 1]
    DDIM (eta 0):  x_t' = sqrt(alpha_bar_t') x0_hat + sqrt(1 - alpha_bar_t') eps_hat
    CFG:           eps_tilde = eps(x_t, null) + s (eps(x_t, y) - eps(x_t, null))

The presets train the UNet on the v target instead of eps (Salimans & Ho 2022,
arXiv:2202.00512), v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0, because then
x0_hat = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v_theta does not divide the network's
error by sqrt(alpha_bar_t) at large t, as eps's x0_hat does (--objective eps gives Ho et
al.'s loss exactly). --min-snr-gamma G weights each example's loss by min(SNR_t, G) / SNR_t
in eps units (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting
Strategy", arXiv:2303.09556; G = 5 there), so the many easy low-noise steps stop dominating.
--time-cond adagn feeds t to each ResBlock as a scale and shift of its GroupNorm (AdaGN,
Dhariwal & Nichol 2021, arXiv:2105.05233) instead of adding it to the features.

The schedule is the linear one (1e-4..0.02, T = 1000), the optimizer Adam with a linear
warm-up, and an EMA of the weights (decay 0.995, warmed up) samples. With --class-cond the
labels are dropped to the null class with probability 0.1. The quick preset is sized for
about 5 minutes on 2 CPU cores (run times in demos/README.md): a UNet of base 32, mults
(1, 2), attention at 8x8 and in the middle, on 16x16 shapes with only the large objects,
which are legible at 16x16 where the small ones are a few pixels of colour.

    python -m demos.ddpm [--preset quick|full] [--dataset shapes|mnist|folder] [--data-dir D]
        [--class-cond] [--compare-samplers] [--steps N] [--minutes M] [--batch-size B]
        [--objective eps|x0|v] [--min-snr-gamma G] [--time-cond add|adagn]
        [--sample-steps N] [--eta E] [--checkpoint-every N] [--device cpu|cuda] [--seed S]
        [--out out/ddpm] [--resume]

Writes to --out: samples.png, samples.npy ((N, C, H, W) in [0, 1]), reverse.gif (noise to
image, x_t beside x0_hat), loss.png, loss_vs_t.png (training loss per timestep bucket),
x0_previews.png (x0_hat at a few noise levels, as training went on; single previews in
previews/), cfg_grid.png (--class-cond: a row per class at a few guidance scales),
samplers.png (--compare-samplers), metrics.json and checkpoint.npz (--resume continues it).
"""
import argparse
import os
import time
from types import SimpleNamespace

import numpy as np

import autograd
import minigen
from minigen import viz
from minigen.data.shapes import SIZES
from minigen.diffusion import (linear_schedule, diffusion_loss, drop_condition, ddim_sample,
                               ddpm_sample, ClassifierFreeGuidance, TimestepLoss, UNet, X0Preview)
from minigen.optim import Adam, EMA, LambdaLR, linear_warmup

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, fixed_noise,
                               held_out_quality, load_image_dataset, non_negative_float,
                               parse_run_args, positive_float, positive_int, resolve_preset,
                               to_unit, unit_float, write_metrics, write_samples)

# One place for every setting; a flag named like a key overrides it, and the dict under a
# dataset's name overrides the preset for that dataset (demos/conventions.resolve_preset).
PRESETS = {
    'quick': dict(steps=1850, batch_size=32, lr=1e-3, warmup=100, ema=0.995, samples=256,
                  preview_every=150, checkpoint_every=300, objective='v', min_snr_gamma=None,
                  time_cond='add',
                  sizes=('large',), resolution=16, base_channels=32, channel_mults=(1, 2),
                  # MNIST: a narrower net at 28x28 taking larger steps
                  mnist=dict(steps=450, batch_size=64, lr=2e-3, preview_every=75,
                             resolution=28, base_channels=16, channel_mults=(1, 2, 2))),
    # sized for a GPU (a few minutes on one; hours on 2 CPU cores)
    'full': dict(steps=20000, batch_size=128, lr=2e-4, warmup=1000, ema=0.999, samples=256,
                 preview_every=2000, checkpoint_every=2000, objective='v', min_snr_gamma=None,
                 time_cond='add',
                 sizes=SIZES, resolution=32, base_channels=64, channel_mults=(1, 2, 2),
                 mnist=dict(steps=6000, batch_size=128, lr=1e-3, warmup=200, samples=2000,
                            preview_every=500, resolution=28, base_channels=32)),
}
PREVIEW = (0.05, 0.25, 0.5, 0.75, 0.95)  # noise levels of the x0_hat previews, as t / T


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap, 'ddpm', PRESETS, datasets=('shapes', 'mnist', 'folder'),
                      checkpoints=True)
    ap.add_argument('--data-dir', help='MNIST IDX files (mnist) or an image folder (folder)')
    ap.add_argument('--class-cond', action='store_true', help='labels + classifier-free guidance')
    ap.add_argument('--guidance', type=non_negative_float, nargs='+', default=[0.0, 1.0, 3.0],
                    help='guidance scales of cfg_grid.png; samples.npy uses the last')
    ap.add_argument('--compare-samplers', action='store_true',
                    help='DDPM vs DDIM at 1000 / 100 / 20 steps from the same x_T')
    ap.add_argument('--steps', type=count, help='training steps in this run (preset default; '
                    '0 with --resume: sample the saved run only)')
    ap.add_argument('--minutes', type=non_negative_float,
                    help='stop training after this many minutes, even before --steps')
    ap.add_argument('--batch-size', type=positive_int)
    ap.add_argument('--samples', type=positive_int, help='images to generate (preset default)')
    ap.add_argument('--sample-steps', type=positive_int, default=50,
                    help='DDIM steps for the samples (at most --timesteps)')
    ap.add_argument('--eta', type=unit_float, default=0.0,
                    help='DDIM eta in [0, 1] (0 deterministic, 1 DDPM-like)')
    ap.add_argument('--objective', choices=('eps', 'x0', 'v'),
                    help='what the UNet predicts (preset default v; Ho et al. use eps)')
    ap.add_argument('--min-snr-gamma', type=positive_float, metavar='G',
                    help='Min-SNR loss weighting min(SNR_t, G) (Hang et al. 2023; off by '
                         'default, 5 in the paper)')
    ap.add_argument('--time-cond', choices=('add', 'adagn'),
                    help="how the UNet takes t: 'add' to the features (Ho et al., the "
                         "default) or 'adagn', a scale and shift of each GroupNorm")
    ap.add_argument('--base-channels', type=positive_int, help='UNet width (preset default)')
    ap.add_argument('--n-train', type=positive_int, default=20000,
                    help='shapes images to train on')
    ap.add_argument('--sizes', nargs='+', choices=SIZES,
                    help='shapes object sizes to train on (quick: large only, legible at 16x16)')
    ap.add_argument('--timesteps', type=positive_int, default=1000,
                    help='T of the linear schedule')
    args = parse_run_args(ap, argv, steps_zero_means='sample from a saved run')
    if args.sample_steps > args.timesteps:  # the sampler's own check, before any training
        ap.error(f"--sample-steps {args.sample_steps} exceeds --timesteps {args.timesteps}: "
                 f"DDIM visits a subset of the T steps")
    return args


def setup(args, hp):
    """Data, UNet, optimizer, EMA and schedule, continued from the checkpoint with --resume."""
    data = load_image_dataset(args.dataset, size=hp['resolution'], seed=args.seed,
                              n_train=args.n_train if args.dataset == 'shapes' else 8000,
                              n_held=hp['samples'], data_dir=args.data_dir, demo='ddpm',
                              shapes_sizes=hp['sizes'])
    C, res = data.train.shape[1], hp['resolution']
    net = dict(resolution=res, base_channels=hp['base_channels'], channel_mults=hp['channel_mults'])
    model = build_unet(net, C, hp['time_cond'],
                       len(data.class_names) if args.class_cond else None).to(args.device)
    opt = Adam(model.parameters(), lr=hp['lr'])
    run = SimpleNamespace(data=data, C=C, res=res, model=model, opt=opt, losses=[],
                          lr_schedule=LambdaLR(opt, linear_warmup(hp['warmup'])),
                          ema=EMA(model, decay=hp['ema']), schedule=linear_schedule(args.timesteps),
                          by_t=TimestepLoss(args.timesteps, buckets=20),
                          x=autograd.tensor(data.train * 2 - 1, device=args.device),
                          y=autograd.tensor(data.labels, dtype=autograd.int64, device=args.device))
    run.config = {'dataset': args.dataset, 'class_cond': args.class_cond, 'net': net,
                  'channels': C, 'T': args.timesteps, 'objective': hp['objective'],
                  'time_cond': hp['time_cond']}
    run.checkpoints = TrainingCheckpoints(args, 'ddpm', run.config, run_state(run),
                                          hp['checkpoint_every'],
                                          extra=lambda: checkpoint_extra(run))
    run.step, saved = run.checkpoints.resume()
    run.end = run.checkpoints.end(run.step, hp['steps'], saved)
    if saved:
        run.losses, run.model.diffusion_config = list(saved['losses']), saved['diffusion_config']
        run.by_t.total = np.array(saved['by_t_total'])
        run.by_t.count = np.array(saved['by_t_count'])
    # fixed images and noise for the x0_hat previews (their own generator: resuming is exact)
    rng = np.random.default_rng(args.seed + 1)
    pick = autograd.tensor(rng.choice(len(data.train), 4, replace=False), device=args.device)
    eps = autograd.tensor(rng.standard_normal((4, C, res, res)).astype(np.float32),
                          device=args.device)
    run.x0_preview = X0Preview(run.schedule, run.x[pick], eps,
                               [int(f * args.timesteps) for f in PREVIEW],
                               run.y[pick] if args.class_cond else None)
    if saved:
        run.x0_preview.history = {int(k): v for k, v in saved['previews'].items()}
    return run


def build_unet(net, channels=3, time_cond='add', num_classes=None):
    """The UNet for `net` (resolution, base_channels, channel_mults): attention at the
    lowest resolution, GroupNorm of 8 groups."""
    res, mults = net['resolution'], net['channel_mults']
    return UNet(in_channels=channels, attention_resolutions=(res // 2 ** (len(mults) - 1),),
                groups=8, time_injection=time_cond, num_classes=num_classes, **net)


def load_run(path, device='cpu', dataset=None, asked_by='ddpm'):
    """An unconditional demos.ddpm run (its --out folder or checkpoint) for another demo
    to sample: its EMA UNet in eval mode, schedule, objective, config and training losses.
    Anything else (another demo's checkpoint, a --class-cond run, or one not on `dataset`)
    is refused, naming the demo that `asked_by` it."""
    ckpt = minigen.load(path if path.endswith('.npz') else os.path.join(path, 'checkpoint.npz'))
    config = ckpt['config']
    if ckpt.get('demo') != 'ddpm' or config['class_cond'] or dataset not in (None,
                                                                             config['dataset']):
        raise SystemExit(f"demos.{asked_by}: {path} is not an unconditional demos.ddpm run"
                         + (f" on {dataset}" if dataset else ''))
    unet = build_unet(config['net'], config['channels'], config['time_cond']).to(device)
    ema = EMA(unet)
    ema.load_state_dict(ckpt['state']['ema'])
    ema.copy_to()
    unet.diffusion_config = ckpt['extra']['diffusion_config']
    return SimpleNamespace(unet=unet.eval(), schedule=linear_schedule(config['T']),
                           objective=config['objective'], config=config,
                           losses=list(ckpt['extra']['losses']))


def run_state(run):
    return {'model': run.model, 'opt': run.opt, 'lr_schedule': run.lr_schedule, 'ema': run.ema}


def checkpoint_extra(run):
    """What the checkpoint keeps beside the state: the histories, previews and the
    diffusion settings the samplers read."""
    return {'losses': np.array(run.losses), 'by_t_total': run.by_t.total,
            'by_t_count': run.by_t.count, 'diffusion_config': run.model.diffusion_config,
            'previews': {str(k): v for k, v in run.x0_preview.history.items()}}


def train(run, args, hp):
    """Algorithm 1 to run.end (earlier if --minutes runs out), with x0_hat previews every
    hp['preview_every'] steps and at the end, checkpointed every hp['checkpoint_every']
    steps, on SIGINT/SIGTERM, and at the end."""
    began, cpu_began, first, end = time.time(), time.process_time(), run.step, run.end
    bar = viz.progress(range(first, end), 'train')
    for step in bar:
        idx = autograd.randint(0, len(run.data.train), (hp['batch_size'],), device=args.device)
        t = run.schedule.sample_timesteps(hp['batch_size'], device=args.device)
        cond = ({'y': drop_condition(run.y[idx], run.model.null_class, 0.1)}
                if args.class_cond else {})
        per_example = diffusion_loss(run.model, run.schedule, run.x[idx], t=t, reduction='none',
                                     objective=hp['objective'],
                                     min_snr_gamma=hp['min_snr_gamma'], **cond)
        loss = per_example.mean()
        run.opt.zero_grad()
        loss.backward()
        run.opt.step()
        run.lr_schedule.step()
        run.ema.update()
        run.losses.append(loss.item())
        run.by_t.update(per_example.detach(), t)
        run.step = step + 1
        if step % 25 == 0:
            bar.set_postfix(loss=f'{np.mean(run.losses[-25:]):.4f}')
        out_of_time = args.minutes is not None and time.time() - began > 60 * args.minutes
        if run.step % hp['preview_every'] == 0 or run.step == end or out_of_time:
            preview(run, args, hp['objective'])
        if out_of_time:
            print(f"demos.ddpm: --minutes {args.minutes:g} reached after {run.step - first} "
                  f"of {end - first} steps")
            bar.close()
            break
        run.checkpoints.step_done(run.step)
    run.checkpoints.save(run.step)
    return {'steps': run.step - first, 'train_seconds': time.time() - began,
            'train_cpu_seconds': time.process_time() - cpu_began}


def preview(run, args, objective):
    """x0_hat of the EMA model for the preview images at each preview t: kept for
    x0_previews.png and written to previews/x0_stepNNNNNN.png beside the x_t it saw."""
    with run.ema.average_parameters():
        run.model.train(False)
        x_t, hat = run.x0_preview(run.model, objective, step=run.step)
        run.model.train(True)
    viz.save_image(np.concatenate([x_t, hat], 1).reshape((-1,) + hat.shape[2:]),
                   os.path.join(args.out, 'previews', f'x0_step{run.step:06d}.png'),
                   nrow=2 * hat.shape[1],
                   row_labels=[f't = {t}' for t in run.x0_preview.timesteps])


def guided(run, args, scale):
    """The network DDIM calls: the EMA model itself, or with --class-cond the classifier-free
    guided one at `scale`."""
    if not args.class_cond:
        return run.model
    return ClassifierFreeGuidance(run.model, scale, y=autograd.tensor(
        [run.model.null_class], device=args.device))


def class_labels(run, args, n):
    """{'y': labels cycling through the classes} with --class-cond, else {}."""
    if not args.class_cond:
        return {}
    return {'y': autograd.tensor(np.arange(n) % len(run.data.class_names),
                                 dtype=autograd.int64, device=args.device)}


def sample(run, args, hp):
    """DDIM from x_T ~ N(0, I) with the EMA weights (guidance: the last --guidance scale):
    the samples in [0, 1], the recorded trajectory (for the GIF) and the time taken."""
    began, cpu_began, trajectory, n = time.time(), time.process_time(), [], hp['samples']
    with run.ema.average_parameters():
        x_T = autograd.randn(n, run.C, run.res, run.res, device=args.device)
        x0 = ddim_sample(guided(run, args, args.guidance[-1]), run.schedule, x_T,
                         steps=args.sample_steps, eta=args.eta, objective=hp['objective'],
                         trajectory=trajectory, record_every=max(1, args.sample_steps // 12),
                         **class_labels(run, args, n))
    seconds = {'sample_seconds': time.time() - began,
               'sample_cpu_seconds': time.process_time() - cpu_began}
    return to_unit(x0.numpy()).astype(np.float32), trajectory, seconds


def draw(run, args, hp, samples, trajectory):
    """samples.png, reverse.gif, loss.png, loss_vs_t.png and x0_previews.png; returns the
    mean training loss per bucket of t, for metrics.json."""
    out, n_classes = args.out, len(run.data.class_names)
    viz.save_image(samples[:64], os.path.join(out, 'samples.png'),
                   nrow=n_classes if args.class_cond and n_classes <= 10 else 8)
    viz.save_trajectory_gif(trajectory, samples, os.path.join(out, 'reverse.gif'), n=8,
                            scale=max(2, 48 // run.res), duration=200)  # ~13 frames: small
    viz.save_loss_curve(run.losses, os.path.join(out, 'loss.png'),
                        label=f"{hp['objective']} loss", window=50)
    centres, mean_loss = run.by_t.result()
    seen = np.isfinite(mean_loss)
    viz.save_curves({f"{hp['objective']} loss during training": (centres[seen], mean_loss[seen])},
                    os.path.join(out, 'loss_vs_t.png'), log_y=True,
                    title='loss against t (all training steps)', xlabel='t')
    # x0_previews.png: one image's x_t at each preview t, then its x0_hat at each kept step
    grid, labels = run.x0_preview.progress_grid()
    viz.save_image(grid, os.path.join(out, 'x0_previews.png'), nrow=len(PREVIEW) + 1,
                   row_labels=labels)
    return {'loss_vs_t': {int(c): float(v) for c, v in zip(centres[seen], mean_loss[seen])}}


def cfg_grid(run, args, hp, per_row=6):
    """cfg_grid.png: one row per class, one panel per guidance scale, the same x_T throughout."""
    names = run.data.class_names
    x_T = fixed_noise(args.seed + 2, (per_row, run.C, run.res, run.res), args.device)
    y = autograd.tensor(np.repeat(np.arange(len(names)), per_row), dtype=autograd.int64,
                        device=args.device)
    panels = []
    with run.ema.average_parameters():
        for s in args.guidance:
            out = ddim_sample(guided(run, args, s), run.schedule, autograd.cat([x_T] * len(names)),
                              steps=args.sample_steps, eta=args.eta, objective=hp['objective'],
                              y=y)
            panels.append(viz.grid_image(to_unit(out.numpy()), nrow=per_row,
                                         row_labels=None if panels else list(names)))
    viz.save_panels(panels, [f'guidance s = {s:g}' for s in args.guidance],
                    os.path.join(args.out, 'cfg_grid.png'))


def compare_samplers(run, args, hp, n=8):
    """samplers.png: the same x_T through DDPM (ancestral) and DDIM (eta 0) at T, T/10 and
    T/50 steps; returns the wall time of each."""
    T, timings, panels = run.schedule.T, {}, []
    x_T = fixed_noise(args.seed + 3, (n, run.C, run.res, run.res), args.device)
    net, cond = guided(run, args, args.guidance[-1]), class_labels(run, args, n)
    with run.ema.average_parameters():
        for name, eta in (('DDPM', 1.0), ('DDIM', 0.0)):
            for k in (T, max(1, T // 10), max(1, T // 50)):
                began = time.time()
                if name == 'DDPM' and k == T:  # Algorithm 2 itself
                    out = ddpm_sample(net, run.schedule, x_T, objective=hp['objective'], **cond)
                else:  # eta = 1 on a subset: DDPM-like ancestral steps (Song et al. eq. 16)
                    out = ddim_sample(net, run.schedule, x_T, steps=k, eta=eta,
                                      objective=hp['objective'], **cond)
                timings[f'{name}_{k}'] = round(time.time() - began, 2)
                panels.append(viz.grid_image(to_unit(out.numpy()), nrow=2))
    titles = [f"{key.replace('_', ' ')}: {s:.1f} s" for key, s in timings.items()]
    viz.save_panels(panels, titles, os.path.join(args.out, 'samplers.png'))
    return timings


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(os.path.join(args.out, 'previews'), exist_ok=True)
    autograd.manual_seed(args.seed)
    run = setup(args, hp)
    with run.checkpoints:
        timing = train(run, args, hp)

    samples, trajectory, sample_timing = sample(run, args, hp)
    write_samples(args.out, samples, 'ddpm')
    loss_vs_t = draw(run, args, hp, samples, trajectory)
    if args.class_cond:
        cfg_grid(run, args, hp)
    sampler_seconds = compare_samplers(run, args, hp) if args.compare_samplers else None

    metrics = {'settings': vars(args) | hp | {'steps': timing['steps']},
               'parameters': int(sum(p.size for p in run.model.parameters())), 'step': run.step,
               **{k: round(v, 2) for k, v in (timing | sample_timing).items() if k != 'steps'},
               'seconds_per_step': round(timing['train_seconds'] / max(1, timing['steps']), 4),
               'sample_seconds_per_image': sample_timing['sample_seconds'] / len(samples),
               'first_loss': float(np.mean(run.losses[:25])),
               'final_loss': float(np.mean(run.losses[-100:])), **loss_vs_t,
               **({'sampler_seconds': sampler_seconds} if sampler_seconds else {}),
               **held_out_quality(samples, run.data, 'ddpm')}
    return write_metrics(args.out, metrics, hide=('settings', 'loss_vs_t'))


if __name__ == '__main__':
    main()
