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
arXiv:2202.00512), v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0, so that
x0_hat = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v_theta does not divide the network's
error by sqrt(alpha_bar_t) at large t (--objective eps gives Ho et al.'s loss exactly).
The schedule is the linear one (1e-4..0.02, T = 1000), the optimizer Adam with a linear
warm-up, and an EMA of the weights (decay 0.995, warmed up) samples. With --class-cond the
labels are dropped to the null class with probability 0.1. The quick preset trains a
0.7M-parameter UNet (base 32, mults (1, 2), attention at 8x8 and in the middle) on 16x16
shapes with large objects: ~0.14 s a step on 2 cores, so 1,850 steps and DDIM-50 fit in
about 5 minutes.

    python -m demos.ddpm [--preset quick|full] [--dataset shapes|mnist|folder] [--data-dir D]
        [--class-cond] [--compare-samplers] [--steps N] [--minutes M] [--batch-size B]
        [--device cpu|cuda]
        [--seed S] [--out out/ddpm] [--resume]

Writes to --out: samples.png, samples.npy ((N, C, H, W) in [0, 1]), reverse.gif (noise to
image, x_t beside x0_hat), loss.png, loss_vs_t.png (training loss per timestep bucket),
x0_previews.png (x0_hat at a few noise levels, as training went on; single previews in
previews/), cfg_grid.png (--class-cond: a row per class at a few guidance scales),
samplers.png (--compare-samplers), metrics.json and checkpoint.npz (--resume continues it).
"""
import argparse
import os
import time

import numpy as np
from PIL import Image, ImageDraw

import autograd
import minigen
from minigen import viz
from minigen.data.idx import load_mnist
from minigen.data.shapes import SHAPES, SIZES, make_shapes
from minigen.diffusion import (linear_schedule, diffusion_loss, drop_condition, predict_x0,
                               q_sample, ddim_sample, ddpm_sample, ClassifierFreeGuidance,
                               TimestepLoss)
from minigen.diffusion import UNet
from minigen.optim import Adam, EMA, LambdaLR, linear_warmup

from demos.conventions import MNIST_ROOT, add_run_arguments, write_metrics

# Measured: a 16x16 base-32 UNet step at batch 32 takes ~0.14 s on 2 idle cores (0.80 s of
# CPU at 32x32 before the stride-1 conv got faster), so 1,850 steps plus DDIM-50 sampling
# fit in ~5 minutes at 16x16, where the large shapes are legible (the quick preset keeps
# only those: --sizes large).
NET = {'quick': {'shapes': dict(resolution=16, base_channels=32, channel_mults=(1, 2)),
                 'mnist': dict(resolution=28, base_channels=16, channel_mults=(1, 2, 2)),
                 'folder': dict(resolution=16, base_channels=32, channel_mults=(1, 2))},
       'full': {'shapes': dict(resolution=32, base_channels=64, channel_mults=(1, 2, 2)),
                'mnist': dict(resolution=28, base_channels=32, channel_mults=(1, 2, 2)),
                'folder': dict(resolution=32, base_channels=64, channel_mults=(1, 2, 2))}}
# v-prediction, not Ho et al.'s eps: measured on the quick preset (same seed, 900 steps), eps
# gave FID 75 / precision 0.58 with a third of the samples still noise, v gave FID 25 / 0.95.
# x0_previews.png shows why: at large t, eps_theta's error is multiplied by
# 1 / sqrt(alpha_bar_t) (157 at t = 999) in x0_hat, while v's x0_hat is the blurred mean image.
TRAIN = {'quick': dict(steps=1850, batch_size=32, lr=1e-3, warmup=100, ema=0.995, samples=64,
                       preview_every=150, objective='v', sizes=('large',)),
         'full': dict(steps=20000, batch_size=128, lr=2e-4, warmup=1000, ema=0.999, samples=256,
                      preview_every=2000, objective='v', sizes=SIZES)}
# MNIST's quick net is narrower (base 16) and takes a larger step (anchors e.2: lr 2e-3, bs 64);
# measured with --class-cond, 450 steps give 98% confidently classified digits (eps: 84%)
# The full preset is sized for a GPU (a few minutes on one; hours on 2 CPU cores): a base-32
# UNet, unconditional or --class-cond, judged on 2,000 samples against the 2,000 held-out digits.
TRAIN_MNIST = {'quick': dict(steps=450, batch_size=64, lr=2e-3, preview_every=75),
               'full': dict(steps=6000, batch_size=128, lr=1e-3, warmup=200, samples=2000,
                            preview_every=500)}
PREVIEW = (0.05, 0.25, 0.5, 0.75, 0.95)  # noise levels of the x0_hat previews, as t / T


def load_data(args, res, n_held):
    """Training images (N, C, res, res) in [-1, 1], labels (N,), class names, and held-out
    real images in [0, 1] for the quality figures."""
    if args.dataset == 'shapes':  # one object per image; the class is its shape
        keep = [SIZES.index(s) for s in args.sizes]  # e.g. only large objects at 16x16
        train = make_shapes(args.n_train * len(SIZES) // len(keep), size=res, seed=args.seed)
        held = make_shapes(n_held * 3 * len(SIZES) // len(keep), size=res, seed=args.seed + 12345)
        t = np.isin(train.attrs['size'], keep)
        h = np.flatnonzero(np.isin(held.attrs['size'], keep))[:n_held]
        return train.images[t] * 2 - 1, train.attrs['shape'][t], SHAPES, held.images[h]
    if args.dataset == 'mnist':  # only the 10k test split is assumed: 8,000 train, 2,000 held
        root = args.data_dir or MNIST_ROOT
        try:
            images, labels = load_mnist('test', root=root, download=False)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"demos.ddpm: no MNIST IDX files (t10k-images-idx3-ubyte, "
                                    f"t10k-labels-idx1-ubyte, optionally .gz) in {root}; give "
                                    f"their folder with --data-dir ({e})") from None
        return images[:8000] * 2 - 1, labels[:8000], tuple(map(str, range(10))), images[8000:]
    from minigen.data.folder import load_image_folder
    if not args.data_dir:
        raise ValueError("demos.ddpm: --dataset folder needs --data-dir ROOT with one "
                         "sub-folder of images per class")
    images, labels, classes = load_image_folder(args.data_dir, size=res)
    return images * 2 - 1, labels, tuple(classes), images[:2000]


def to_unit(x):
    """[-1, 1] -> [0, 1], as a NumPy array."""
    return np.clip((np.asarray(x) + 1) / 2, 0, 1)


def labelled_panels(panels, titles, path):
    """Pillow images side by side, each with a title above it."""
    pad = 22
    w, h = sum(p.width for p in panels) + 10 * (len(panels) - 1), max(p.height for p in panels)
    canvas = Image.new('RGB', (w, h + pad), 'white')
    draw, left = ImageDraw.Draw(canvas), 0
    for p, title in zip(panels, titles):
        canvas.paste(p, (left, pad))
        draw.text((left + p.width // 2, 4), title, fill='black', font=viz.grid.font(14),
                  anchor='mt')
        left += p.width + 10
    canvas.save(path)


def x0_preview(model, ema, schedule, x0, eps, y, preview_t, objective):
    """x0_hat of the EMA model for each image of x0 at each t of preview_t: (len(t), N, C, H, W)."""
    n = x0.shape[0]
    t = autograd.tensor(np.repeat(preview_t, n), dtype=autograd.int64, device=x0.device)
    x0_rep = autograd.cat([x0] * len(preview_t))
    x_t = q_sample(schedule, x0_rep, t, autograd.cat([eps] * len(preview_t)))
    cond = {} if y is None else {'y': autograd.cat([y] * len(preview_t))}
    with ema.average_parameters(), autograd.no_grad():
        model.train(False)
        hat = predict_x0(schedule, x_t, t, model(x_t, t, **cond), objective).clip(-1, 1)
        model.train(True)
    shape = (len(preview_t), n) + x0.shape[1:]
    return to_unit(x_t.numpy().reshape(shape)), to_unit(hat.numpy().reshape(shape))


def quality(samples, real, dataset, reference=None):
    """FID/KID/IS/precision/recall and the classifier confidence (share of samples whose
    top class probability exceeds 0.9) from minigen.metrics' feature nets, when available.
    With `reference` (other real images, as many as `real`): `fid_real`, the FID of real
    against real at this sample count, the floor the samples' FID is read against."""
    if dataset not in ('mnist', 'shapes'):
        return {}
    try:
        import minigen.metrics as M
        images = {'samples': samples, 'real': real, 'reference': reference}
        if dataset == 'shapes' and samples.shape[-1] != 32:  # the shapes net reads 32x32
            k = 32 // samples.shape[-1]
            images = {name: a if a is None else a.repeat(k, axis=2).repeat(k, axis=3)
                      for name, a in images.items()}
        net = M.load_feature_net(dataset)  # features and probs of each set computed once
        probs = np.asarray(net.probs(images['samples']))
        real_features = net.features(images['real'])
        q = M.evaluate_features(net.features(images['samples']), probs, real_features)
        q['confident_fraction'] = float((probs.max(1) > 0.9).mean())
        if reference is not None:
            q['fid_real'] = M.fid(net.features(images['reference']), real_features)
            q['confident_fraction_real'] = float(
                (np.asarray(net.probs(images['reference'])).max(1) > 0.9).mean())
        return {k: float(v) for k, v in q.items()}
    except Exception as e:  # the metrics package is optional for the demo
        print(f"demos.ddpm: quality figures skipped ({type(e).__name__}: {e})")
        return {'quality_skipped': f"{type(e).__name__}: {e}"}


def cfg_grid(model, ema, schedule, args, class_names, C, res, per_row=6):
    """cfg_grid.png: one row per class, one panel per guidance scale, the same x_T throughout."""
    n_classes = len(class_names)
    y = autograd.tensor(np.repeat(np.arange(n_classes), per_row), dtype=autograd.int64,
                        device=args.device)
    x_T = autograd.tensor(np.random.default_rng(args.seed + 2).standard_normal(
        (per_row, C, res, res)).astype(np.float32), device=args.device)
    x_T = autograd.cat([x_T] * n_classes)
    panels = []
    with ema.average_parameters():
        for s in args.guidance:
            guided = ClassifierFreeGuidance(model, s, y=autograd.tensor(
                [model.null_class], device=args.device))
            out = to_unit(ddim_sample(guided, schedule, x_T, steps=args.sample_steps,
                                      eta=args.eta, objective=args.objective, y=y).numpy())
            panels.append(viz.grid_image(out, nrow=per_row, row_labels=list(
                class_names) if not panels else None))
    labelled_panels(panels, [f'guidance s = {s:g}' for s in args.guidance],
                    os.path.join(args.out, 'cfg_grid.png'))


def compare_samplers(sampler, ema, schedule, args, n_classes, C, res, n=8):
    """samplers.png: the same x_T through DDPM (ancestral) and DDIM (eta 0) at T, T/10 and
    T/50 steps; returns the wall time of each."""
    T, timings = schedule.T, {}
    x_T = autograd.tensor(np.random.default_rng(args.seed + 3).standard_normal(
        (n, C, res, res)).astype(np.float32), device=args.device)
    cond = ({'y': autograd.tensor(np.arange(n) % n_classes, dtype=autograd.int64,
                                  device=args.device)} if args.class_cond else {})
    panels, titles = [], []
    with ema.average_parameters():
        for name, eta in (('DDPM', 1.0), ('DDIM', 0.0)):
            for k in (T, max(1, T // 10), max(1, T // 50)):
                began = time.time()
                if name == 'DDPM' and k == T:  # Algorithm 2 itself
                    out = ddpm_sample(sampler, schedule, x_T, objective=args.objective, **cond)
                else:  # eta = 1 on a subset: DDPM-like ancestral steps (Song et al. eq. 16)
                    out = ddim_sample(sampler, schedule, x_T, steps=k, eta=eta,
                                      objective=args.objective, **cond)
                timings[f'{name}_{k}'] = round(time.time() - began, 2)
                panels.append(viz.grid_image(to_unit(out.numpy()), nrow=2))
                titles.append(f'{name} {k}: {timings[f"{name}_{k}"]:.1f} s')
    labelled_panels(panels, titles, os.path.join(args.out, 'samplers.png'))
    return timings


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', choices=TRAIN, default='quick')
    ap.add_argument('--dataset', choices=('shapes', 'mnist', 'folder'), default='shapes')
    ap.add_argument('--data-dir', help='MNIST IDX files (mnist) or an image folder (folder)')
    ap.add_argument('--class-cond', action='store_true', help='labels + classifier-free guidance')
    ap.add_argument('--guidance', type=float, nargs='+', default=[0.0, 1.0, 3.0],
                    help='guidance scales of cfg_grid.png; samples.npy uses the last')
    ap.add_argument('--compare-samplers', action='store_true',
                    help='DDPM vs DDIM at 1000 / 100 / 20 steps from the same x_T')
    ap.add_argument('--steps', type=int, help='training steps in this run (preset default)')
    ap.add_argument('--minutes', type=float,
                    help='stop training after this many minutes, even before --steps')
    ap.add_argument('--batch-size', type=int)
    ap.add_argument('--samples', type=int, help='images to generate (preset default)')
    ap.add_argument('--sample-steps', type=int, default=50, help='DDIM steps for the samples')
    ap.add_argument('--eta', type=float, default=0.0,
                    help='DDIM eta (0 deterministic, 1 DDPM-like)')
    ap.add_argument('--objective', choices=('eps', 'x0', 'v'),
                    help='what the UNet predicts (preset default v; Ho et al. use eps)')
    ap.add_argument('--base-channels', type=int, help='UNet width (preset default)')
    ap.add_argument('--n-train', type=int, default=20000, help='shapes images to train on')
    ap.add_argument('--sizes', nargs='+', choices=SIZES,
                    help='shapes object sizes to train on (quick: large only, legible at 16x16)')
    ap.add_argument('--timesteps', type=int, default=1000, help='T of the linear schedule')
    add_run_arguments(ap, 'ddpm')
    args = ap.parse_args(argv)
    hp = TRAIN[args.preset] | (TRAIN_MNIST[args.preset] if args.dataset == 'mnist' else {})
    args.objective = args.objective or hp['objective']
    args.sizes = args.sizes or hp['sizes']
    steps = hp['steps'] if args.steps is None else args.steps  # 0 with --resume: sample only
    batch_size = args.batch_size or hp['batch_size']
    if steps < 0 or (steps == 0 and not args.resume):
        raise ValueError(f"demos.ddpm: --steps must be positive (0 only with --resume, to sample "
                         f"from a saved run), got {steps}")
    n_samples = args.samples or hp['samples']
    net = dict(NET[args.preset][args.dataset])
    net['base_channels'] = args.base_channels or net['base_channels']
    os.makedirs(os.path.join(args.out, 'previews'), exist_ok=True)
    ckpt_path = os.path.join(args.out, 'checkpoint.npz')

    autograd.manual_seed(args.seed)
    images, labels, class_names, held = load_data(args, net['resolution'], n_samples)
    C, res = images.shape[1], net['resolution']
    x_data = autograd.tensor(images, device=args.device)
    y_data = autograd.tensor(labels, dtype=autograd.int64, device=args.device)
    T = args.timesteps
    schedule = linear_schedule(T)
    preview_t = [int(f * T) for f in PREVIEW]
    lowest = res // 2 ** (len(net['channel_mults']) - 1)  # attention there and in the middle
    model = UNet(in_channels=C, attention_resolutions=(lowest,),
                 groups=8, num_classes=len(class_names) if args.class_cond else None,
                 **net).to(args.device)
    opt = Adam(model.parameters(), lr=hp['lr'])
    lr_schedule = LambdaLR(opt, linear_warmup(hp['warmup']))
    ema = EMA(model, decay=hp['ema'])
    by_t = TimestepLoss(T, buckets=20)
    start_step, losses, previews = 0, [], {}
    setup = {'dataset': args.dataset, 'class_cond': args.class_cond, 'net': net, 'channels': C,
             'T': T}
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise FileNotFoundError(f"demos.ddpm --resume: no checkpoint at {ckpt_path}; run "
                                    f"once without --resume first")
        ckpt = minigen.load(ckpt_path)
        saved = {k: ckpt[k] for k in setup}
        saved['net']['channel_mults'] = tuple(saved['net']['channel_mults'])
        if saved != setup:
            raise ValueError(f"demos.ddpm --resume: {ckpt_path} holds a run with {saved}; this "
                             f"run asks for {setup} (check --dataset, --class-cond, --preset)")
        model.load_state_dict(ckpt['model'])
        model.diffusion_config = ckpt['diffusion_config']
        opt.load_state_dict(ckpt['optimizer'])
        lr_schedule.load_state_dict(ckpt['lr_schedule'])
        ema.load_state_dict(ckpt['ema'])
        by_t.total, by_t.count = np.array(ckpt['by_t_total']), np.array(ckpt['by_t_count'])
        autograd.backend.set_rng_state(ckpt['rng'])
        start_step, losses = int(ckpt['step']), list(ckpt['losses'])
        previews = {int(k): v for k, v in ckpt['previews'].items()}

    # fixed images and noise for the x0_hat previews (their own generator: resuming is exact)
    rng = np.random.default_rng(args.seed + 1)
    pick = autograd.tensor(rng.choice(len(images), 4, replace=False), device=args.device)
    p_x0, p_y = x_data[pick], y_data[pick]
    p_eps = autograd.tensor(rng.standard_normal(p_x0.shape).astype(np.float32), device=args.device)
    p_y = p_y if args.class_cond else None

    start, cpu_start = time.time(), time.process_time()
    bar = viz.progress(range(start_step, start_step + steps), 'train')
    for step in bar:  # Algorithm 1
        idx = autograd.randint(0, len(images), (batch_size,), device=args.device)
        t = schedule.sample_timesteps(batch_size, device=args.device)
        cond = ({'y': drop_condition(y_data[idx], model.null_class, 0.1)} if args.class_cond
                else {})
        per_example = diffusion_loss(model, schedule, x_data[idx], t=t, reduction='none',
                                     objective=args.objective, **cond)
        loss = per_example.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        lr_schedule.step()
        ema.update()
        losses.append(loss.item())
        by_t.update(per_example.detach(), t)
        if step % 25 == 0:
            bar.set_postfix(loss=f'{np.mean(losses[-25:]):.4f}')
        out_of_time = args.minutes is not None and time.time() - start > 60 * args.minutes
        if (step + 1) % hp['preview_every'] == 0 or step + 1 == start_step + steps or out_of_time:
            x_t, hat = x0_preview(model, ema, schedule, p_x0, p_eps, p_y, preview_t,
                                   args.objective)
            previews[step + 1] = hat[:, 0]
            viz.save_image(np.concatenate([x_t, hat], 1).reshape((-1,) + hat.shape[2:]),
                           os.path.join(args.out, 'previews', f'x0_step{step + 1:06d}.png'),
                           nrow=2 * pick.shape[0], row_labels=[f't = {t_}' for t_ in preview_t])
        if out_of_time:
            print(f"demos.ddpm: --minutes {args.minutes:g} reached after {step + 1 - start_step} "
                  f"of {steps} steps")
            steps = step + 1 - start_step
            bar.close()
            break
    train_seconds, train_cpu = time.time() - start, time.process_time() - cpu_start
    step = start_step + steps
    minigen.save({'model': model.state_dict(), 'optimizer': opt.state_dict(),
                  'lr_schedule': lr_schedule.state_dict(), 'ema': ema.state_dict(), 'step': step,
                  'rng': autograd.backend.get_rng_state(), 'losses': np.array(losses),
                  'by_t_total': by_t.total, 'by_t_count': by_t.count,
                  'previews': {str(k): v for k, v in previews.items()},
                  'diffusion_config': model.diffusion_config, **setup}, ckpt_path)

    # samples: DDIM with the EMA weights, x0_hat clipped; the trajectory makes the GIF
    guidance = args.guidance[-1]
    n_classes = len(class_names)
    sampler = model
    cond = {}
    if args.class_cond:
        sampler = ClassifierFreeGuidance(model, guidance,
                                         y=autograd.tensor([model.null_class], device=args.device))
        cond = {'y': autograd.tensor(np.arange(n_samples) % n_classes, dtype=autograd.int64,
                                     device=args.device)}
    start, cpu_start, trajectory = time.time(), time.process_time(), []
    with ema.average_parameters():
        x_T = autograd.randn(n_samples, C, res, res, device=args.device)
        x0 = ddim_sample(sampler, schedule, x_T, steps=args.sample_steps, eta=args.eta,
                         objective=args.objective,
                         trajectory=trajectory, record_every=max(1, args.sample_steps // 12),
                         **cond)
    sample_seconds, sample_cpu = time.time() - start, time.process_time() - cpu_start
    samples = to_unit(x0.numpy()).astype(np.float32)
    np.save(os.path.join(args.out, 'samples.npy'), samples)
    nrow = n_classes if args.class_cond and n_classes <= 10 else 8
    viz.save_image(samples[:64], os.path.join(args.out, 'samples.png'), nrow=nrow)
    gif_n = min(8, n_samples)  # a row of x_t over a row of x0_hat, ~13 frames: a small file
    frames = [np.concatenate([to_unit(x_t[:gif_n]), to_unit(hat[:gif_n])])
              for _, x_t, hat in trajectory] + [np.concatenate([samples[:gif_n]] * 2)]
    labels = [f'x_t | x0_hat,  t = {t_}' for t_, _, _ in trajectory] + ['x_0']
    viz.save_gif(frames, os.path.join(args.out, 'reverse.gif'), nrow=gif_n,
                 scale=max(2, 48 // res), duration=200, frame_labels=labels)

    # pictures of training: loss, loss against t, x0_hat previews along training
    smooth = np.convolve(losses, np.ones(50) / 50, mode='valid') if len(losses) >= 50 else None
    viz.save_curves({f'{args.objective} loss': losses}
                    | ({'mean of 50': (np.arange(49, len(losses)), smooth)}
                       if smooth is not None else {}),
                    os.path.join(args.out, 'loss.png'), log_y=True, title='training loss')
    centres, mean_loss = by_t.result()
    seen = np.isfinite(mean_loss)
    viz.save_curves({f'{args.objective} loss during training': (centres[seen], mean_loss[seen])},
                    os.path.join(args.out, 'loss_vs_t.png'), log_y=True,
                    title='loss against t (all training steps)', xlabel='t')
    kept = sorted(previews)
    rows = [to_unit(q_sample(schedule, autograd.cat([p_x0[:1]] * len(preview_t)),
                             autograd.tensor(preview_t, dtype=autograd.int64, device=args.device),
                             autograd.cat([p_eps[:1]] * len(preview_t))).numpy())]
    rows += [previews[k] for k in kept]
    viz.save_image(np.concatenate([np.concatenate([to_unit(p_x0[:1].numpy()), r]) for r in rows]),
                   os.path.join(args.out, 'x0_previews.png'), nrow=len(preview_t) + 1,
                   row_labels=['x_t'] + [f'step {k}' for k in kept])

    if args.class_cond:
        cfg_grid(model, ema, schedule, args, class_names, C, res)
    timings = compare_samplers(sampler, ema, schedule, args, n_classes, C, res) \
        if args.compare_samplers else {}

    metrics = {'settings': vars(args) | {'steps': steps, 'batch_size': batch_size,
                                         'samples': n_samples, 'T': T, 'net': net,
                                         **{k: hp[k] for k in ('lr', 'warmup', 'ema')}},
               'parameters': int(sum(p.size for p in model.parameters())),
               'step': step, 'train_seconds': round(train_seconds, 2),
               'seconds_per_step': round(train_seconds / max(1, steps), 4),
               'train_cpu_seconds': round(train_cpu, 2),  # CPU time: less inflated when
               'sample_seconds': round(sample_seconds, 2),  # other jobs share the machine
               'sample_cpu_seconds': round(sample_cpu, 2),
               'first_loss': float(np.mean(losses[:25])),
               'final_loss': float(np.mean(losses[-100:])),
               'loss_vs_t': {int(c): float(v) for c, v in zip(centres[seen], mean_loss[seen])},
               **({'sampler_seconds': timings} if timings else {}),
               **quality(samples, held[:n_samples], args.dataset,
                         reference=to_unit(images[:len(held[:n_samples])]))}
    return write_metrics(args.out, metrics, hide=('settings', 'loss_vs_t'))


if __name__ == '__main__':
    main()
