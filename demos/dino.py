"""DINO: a Vision Transformer learns image features by predicting its own EMA teacher.

Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers"
(arXiv:2104.14294). Every image of a batch is cut into 2 global crops and a few small
local ones (multi-crop); a student ViT with a projection head reads all of them, a
teacher (the student's exponential moving average, momentum scheduled from
--momentum to 1) reads the global ones, and the student learns, by the cross entropy

    H(P_t, P_s) = - sum_k P_t(x)_k log P_s(x')_k,   x a global crop, x' another crop,

to give every crop the teacher's distribution of another crop of the same image. The
teacher's outputs are centred (an EMA of their mean) and sharpened (tau_t = 0.02 in the
quick preset, the paper's 0.04 in the full one, against tau_s = 0.1); `--no-centering`
removes the centre and the run collapses (every image gets the same one-hot output: the
teacher's entropy H(P_t) and KL(P_t || P_s) fall to 0).
On shapes every view first gets a background of its own (the object kept by its mask,
augment.random_background, Ryali et al. 2021, arXiv:2103.12719; `--no-background-swap`
keeps the image's own), since views that share the background's waves and tint are
matched by them, and the local crops are centred on the object (a pixel drawn by its
distance from the background colour: augment.random_salient_crop); `--uniform-local-crops`
puts them anywhere. The loss adds DINOv2's KoLeo term on the student's class tokens
(`--koleo`, weight 0.1; 0 for plain DINO), which stops the backbone drifting to a
constant map. AdamW with a linear warm-up and a cosine decay (the paper's schedule).
No label is used in training; afterwards the frozen teacher ViT's class-token features
(and, beside them, the mean of its patch tokens) are judged by a 20-NN classifier and a
linear probe, against the same ViT at its random initialisation (the same features, the
same probes), and the last block's class-token attention over the patches is drawn. On
shapes the colour, size and position are scored by 20-NN too.

Data: the built-in shapes set (label: the shape kind) or MNIST test digits
(../shared/data/mnist): a pool of --n-pool unlabelled images to train on (MNIST: the
first 8,000 at most), the first --n-train of them the probes' training images, and
--n-test held-out images (MNIST: the last ones) to score them.

    python -m demos.dino [--preset quick|full] [--dataset shapes|mnist] [--steps N]
        [--batch-size B] [--lr LR] [--local-crops N] [--local-size S] [--uniform-local-crops]
        [--patch-size P] [--width D] [--depth L]
        [--out-dim K] [--teacher-temp T] [--momentum M] [--no-centering] [--koleo W]
        [--no-background-swap] [--n-pool N]
        [--n-train N] [--n-test N] [--probe-steps N] [--checkpoint-every N] [--device cpu|cuda]
        [--seed S] [--out out/dino] [--resume]

Writes to --out: crops.png (an image, its global and local crops), loss.png,
collapse.png (H(P_t), KL(P_t || P_s) and the KoLeo term per step, against ln K),
attention.png (the
class token's attention maps of each head, trained beside random), metrics.json (k-NN
and linear-probe accuracies, trained and random, class token and mean-pooled patches) and
checkpoint.npz (which --resume continues).
"""
import argparse
import math
import os
import time
from functools import partial

import numpy as np

import autograd
from minigen import viz
from minigen.contrastive.dino import DINO, teacher_momentum
from minigen.contrastive.vit import ViT
from minigen.data import augment as A
from minigen.data.shapes import SHAPES, backgrounds, make_shapes
from minigen.metrics.probe import knn_accuracy, linear_probe_accuracy
from minigen.optim import AdamW, LambdaLR, clip_grad_norm_, cosine_with_warmup
from minigen.viz.loss_curve import save_loss_curve

from demos.conventions import (ImageData, TrainingCheckpoints, add_run_arguments, count,
                               load_image_dataset, non_negative_float, parse_run_args,
                               positive_float, positive_int, resolve_preset, unit_float,
                               write_metrics)

# quick: 8x8 patches (17 tokens: a step costs a third of 4x4's 65), tau_t 0.02 and a teacher
# momentum from 0.96, since with the paper's 0.04 and 0.996 (set for 100 epochs of 2,500
# steps) the teacher stays near uniform (H(P_t) ~ 5.1 of ln 256 = 5.5); the lower tau_t is
# the fix suggested for small data in facebookresearch/dino#43; with it, the paper's centre
# momentum 0.9 lets one output take over for tens of steps (H(P_t) ~ 0.03) and such runs end
# on the uniform output, so the centre moves faster (0.5). Local crops centred on the
# object. Without the background swap the views are matched by their shared background and
# colour (20-NN of the shape below the random ViT's); with it and no KoLeo the backbone goes
# constant within 100 steps (H(P_t) = ln K); with both the shape is learned (probes: 0.48 at
# 200 steps, 0.58 at 600, 0.61 at 900 against 0.32; KoLeo alone 0.41 at 200). MNIST (28 px)
# takes 7x7 patches and 14-pixel local crops, and has no background to swap.
# Measured (seed 0, 1200 steps): shapes 20-NN 0.608 against 0.321 for the random ViT,
# MNIST 0.647 against 0.474 (demos/README.md).
PRESETS = {'quick': dict(steps=1200, batch_size=32, local_crops=4, patch_size=8, width=64,
                         depth=4, heads=4, out_dim=256, teacher_temp=0.02, student_temp=0.1,
                         momentum=0.96, center_momentum=0.5, lr=1e-3, weight_decay=0.04,
                         warmup=30, global_scale=(0.6, 1.0), local_scale=(0.1, 0.4),
                         local_size=16, salient_local_crops=True, background_swap=True,
                         koleo=0.1, n_pool=8000, n_train=2000, n_test=1000, probe_steps=300,
                         checkpoint_every=100,
                         mnist=dict(patch_size=7, local_size=14, background_swap=False)),
           'full': dict(steps=5000, batch_size=128, local_crops=6, patch_size=4, width=128,
                        depth=6, heads=4, out_dim=1024, teacher_temp=0.04, student_temp=0.1,
                        momentum=0.996, center_momentum=0.9, lr=5e-4, weight_decay=0.04,
                        warmup=500, global_scale=(0.6, 1.0), local_scale=(0.1, 0.4),
                        local_size=16, salient_local_crops=True, background_swap=True,
                        koleo=0.1, n_pool=8000, n_train=5000, n_test=2000, probe_steps=300,
                        checkpoint_every=500, mnist=dict(local_size=12, background_swap=False))}


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, kind, what in (
            ('--steps', count, 'training steps in this run (0: evaluate only)'),
            ('--batch-size', positive_int, 'images per step'),
            ('--lr', positive_float, 'AdamW learning rate (after warm-up)'),
            ('--local-crops', count, 'local crops per image (besides the 2 global ones)'),
            ('--local-size', positive_int,
             "local crops' side in pixels (a multiple of the patch side)"),
            ('--patch-size', positive_int, 'ViT patch side in pixels'),
            ('--width', positive_int, 'ViT width D'),
            ('--depth', positive_int, 'ViT blocks'),
            ('--out-dim', positive_int, "K, the head's outputs"),
            ('--teacher-temp', positive_float, 'tau_t (0.1 = tau_s: no sharpening)'),
            ('--momentum', unit_float, "the teacher EMA's first momentum (cosine to 1)"),
            ('--koleo', non_negative_float, 'weight of the KoLeo term (0: plain DINO)'),
            ('--n-pool', positive_int, 'unlabelled training images'),
            ('--n-train', positive_int, 'labelled images for the probes (the first of the pool)'),
            ('--n-test', positive_int, 'held-out images for the probes'),
            ('--probe-steps', positive_int, 'linear-probe Adam steps')):
        ap.add_argument(flag, type=kind, help=what)
    ap.add_argument('--uniform-local-crops', dest='salient_local_crops', action='store_const',
                    const=False, help='local crops anywhere, not centred on the object')
    ap.add_argument('--no-centering', dest='centering', action='store_false',
                    help='no centre on the teacher outputs: the run collapses')
    ap.add_argument('--no-background-swap', dest='background_swap', action='store_const',
                    const=False, help='shapes: views keep their own background')
    add_run_arguments(ap, 'dino', PRESETS, datasets=('shapes', 'mnist'), checkpoints=True)
    return parse_run_args(ap, argv)


def crop_pipelines(dataset, size, hp):
    """Multi-crop (Sec. 3.1 of the paper): global crops of area hp['global_scale'] at
    `size`, local crops of area hp['local_scale'] at hp['local_size'] pixels, each then
    jittered. DINO's 0.4-1 and 0.05-0.4 are for objects that fill the photo; a shapes
    object fills about one cell of a 3x3 grid, and a crop that misses it can only be
    matched to its teacher by the background, which is then what is learned: with
    hp['salient_local_crops'] the local crops are centred on a pixel drawn by its distance
    from the background colour (augment.random_salient_crop), so they show the object. Shapes:
    flips, quarter turns, colour jitter with any hue (the colour is not what should be
    learned), grayscale, blur. MNIST: no flip or turn (they change digits), brightness
    and contrast, blur."""
    if dataset == 'shapes':
        jitter = [A.random_hflip, A.random_rot90,
                  partial(A.color_jitter, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.5,
                          p=0.8), partial(A.random_grayscale, p=0.2)]
    else:
        jitter = [partial(A.color_jitter, brightness=0.4, contrast=0.4, saturation=0.0,
                          hue=0.0, p=0.8)]
    global_crop = A.Compose([partial(A.random_resized_crop, size=size,
                                     scale=tuple(hp['global_scale'])),
                             *jitter, partial(A.random_gaussian_blur, p=0.5)])
    crop = A.random_salient_crop if hp['salient_local_crops'] else A.random_resized_crop
    local_crop = A.Compose([partial(crop, size=hp['local_size'], scale=tuple(hp['local_scale'])),
                            *jitter])
    return global_crop, local_crop


def make_crops(x, global_crop, local_crop, n_local, rng, masks=None, bank=None):
    """[global 1, global 2, local 1, ..., local n] for the batch x. Given the objects' masks
    and a bank of backgrounds, every view first gets a background of its own
    (augment.random_background): the two global crops of an image share its waves, tint
    and brightness exactly, the easiest cue to match them by, and DINO learns it instead
    of the outline."""
    def view():
        return x if bank is None else A.random_background(x, rng, masks, bank)
    return ([global_crop(view(), rng) for _ in range(2)]
            + [local_crop(view(), rng) for _ in range(n_local)])


def build(data, hp, seed, device, centering=True):
    """The DINO student and teacher, with the same initial weights every time: the
    random-init baseline is the trained model's starting point."""
    autograd.manual_seed(seed)
    backbone = ViT(data.train.shape[1], data.train.shape[2], hp['patch_size'], hp['width'],
                   hp['depth'], hp['heads'])
    return DINO(backbone, out_dim=hp['out_dim'], hidden=4 * hp['width'],
                bottleneck=hp['width'], student_temp=hp['student_temp'],
                teacher_temp=hp['teacher_temp'], center_momentum=hp['center_momentum'],
                centering=centering, koleo_weight=hp['koleo']).to(device)


def train(model, opt, sched, pool, swap, pipelines, hp, steps, end, history, seed, run, device):
    """DINO over `steps` (of `end` in all, the horizon of the momentum schedule); swap: the
    pool's masks and a bank of backgrounds, or None."""
    bar = viz.progress(steps, 'train')
    params = list(model.student.parameters())
    for step in bar:
        rng = np.random.default_rng([seed, step])   # per-step stream: exact resume
        i = rng.choice(len(pool), hp['batch_size'], replace=False)
        masks, bank = (swap[0][i], swap[1]) if swap else (None, None)
        crops = make_crops(pool[i], *pipelines, hp['local_crops'], rng, masks, bank)
        loss, stats = model.loss([autograd.tensor(c, device=device) for c in crops])
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(params, 3.0)                 # DINO's clip_grad
        opt.step()
        sched.step()
        model.update_teacher(teacher_momentum(step, end, hp['momentum']))
        history['loss'].append(loss.item())
        for key, value in stats.items():
            history[key].append(value)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(history['loss'][-10:]):.3f}",
                            H_t=f"{stats['teacher_entropy']:.2f}", kl=f"{stats['kl']:.3f}")
        run.step_done(step + 1)


def load_data(dataset, hp, seed):
    """ImageData (the pool to train on, of which the first n_train are the probes' training
    images; n_test held out), every label by name (shapes' four attributes, drawn here:
    load_image_dataset keeps only the shape; or MNIST's digit), and for shapes with
    hp['background_swap'] the pool's and held-out images' object masks with a bank of
    n_pool backgrounds drawn as the shapes set draws them (else None)."""
    if dataset == 'shapes':
        pool = make_shapes(max(hp['n_pool'], hp['n_train']), size=32, seed=seed, with_masks=True)
        held = make_shapes(hp['n_test'], size=32, seed=seed + 12345, with_masks=True)
        labels = {k: (pool.attrs[k], held.attrs[k]) for k in ('shape', 'color', 'size',
                                                               'position')}
        data = ImageData(pool.images, pool.attrs['shape'], SHAPES, held.images,
                         held.attrs['shape'], 'shapes')
        if not hp['background_swap']:
            return data, labels, None
        bank = backgrounds(np.random.default_rng([seed, 1]), len(pool.images), 32, 0.06)
        return data, labels, (pool.masks, held.masks, bank)
    data = load_image_dataset(dataset, n_train=max(hp['n_pool'], hp['n_train']),
                              n_held=hp['n_test'], seed=seed, demo='dino')
    return data, {'digit': (data.labels, data.held_labels)}, None


def evaluate(model, data, labels, hp):
    """20-NN and linear-probe accuracy of the first label (shape or digit) from frozen
    features, the class token and the mean of the patch tokens, trained on the first
    n_train pool images and tested on n_test held-out ones; 20-NN of the other labels
    from the class token."""
    n, m, out = hp['n_train'], hp['n_test'], {}
    for pool in ('cls', 'mean'):
        train_x = model.features(data.train[:n], pool=pool)
        test_x = model.features(data.held[:m], pool=pool)
        for i, (name, (train_y, test_y)) in enumerate(labels.items()):
            if i and pool == 'mean':
                break
            out[f'{pool}_{name}_knn'] = knn_accuracy(train_x, train_y[:n], test_x,
                                                     test_y[:m], k=20)
            if i == 0:
                out[f'{pool}_{name}_linear_probe'] = linear_probe_accuracy(
                    train_x, train_y[:n], test_x, test_y[:m], steps=hp['probe_steps'])
    return out


def draw(model, random_vit, data, swap, pipelines, history, hp, args):
    """crops.png, loss.png, collapse.png and attention.png."""
    rng = np.random.default_rng(args.seed + 7)
    x = data.held[:8]
    masks, bank = (swap[1][:8], swap[2]) if swap else (None, None)
    crops = make_crops(x, *pipelines, hp['local_crops'], rng, masks, bank)
    side = x.shape[2]
    full = np.tile([[0, 0, 0, 0]], (len(x), 1)).astype(np.float64)
    shown = [c if c.shape[2] == side else
             A.resized_crop(c, full + [0, 0, c.shape[2], c.shape[3]], (side, side))
             for c in crops]
    viz.save_image(np.concatenate([x] + shown), os.path.join(args.out, 'crops.png'),
                   nrow=len(x), scale=3, row_labels=['image', 'global 1', 'global 2'] +
                   [f'local {i + 1} (x{side / crops[-1].shape[2]:.2g})'
                    for i in range(hp['local_crops'])])
    save_loss_curve(history['loss'], os.path.join(args.out, 'loss.png'),
                    label='H(P_t, P_s)' + (f" + {hp['koleo']} KoLeo" if hp['koleo'] else ''),
                    window=20, log_y=False,
                    title=f"DINO on {args.dataset} (batch {hp['batch_size']}, "
                          f"{2 + hp['local_crops']} crops)")
    steps = len(history['loss'])
    curves = {'teacher entropy H(P_t)': history['teacher_entropy'],
              'KL(P_t || P_s)': history['kl'],
              f"ln K = {math.log(hp['out_dim']):.2f} (uniform)":
                  np.full(steps, math.log(hp['out_dim']))}
    if len(history['koleo']) == steps:
        curves['KoLeo of the class tokens (2 global crops)'] = history['koleo']
    viz.save_curves(curves, os.path.join(args.out, 'collapse.png'), ylabel='nats',
                    title=f"DINO on {args.dataset}, "
                          f"{'centred' if args.centering else 'no centring'}, "
                          f"tau_t = {hp['teacher_temp']}")
    attention = [vit.class_attention(autograd.tensor(x, device=args.device)).numpy()
                 for vit in (model.teacher[0], random_vit)]   # (N, heads, h, w) each
    viz.save_panels([viz.attention_image(x, a) for a in attention],
                    [f'trained teacher, step {steps}', 'random init'],
                    os.path.join(args.out, 'attention.png'))


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    data, labels, swap = load_data(args.dataset, hp, args.seed)
    side = data.train.shape[2]
    if side % hp['patch_size'] or hp['local_size'] % hp['patch_size'] or \
            not hp['patch_size'] <= hp['local_size'] <= side:
        raise SystemExit(f"demos.dino: --patch-size {hp['patch_size']} must divide the "
                         f"{side}-pixel images and the --local-size {hp['local_size']} "
                         f"(at most {side}) of the local crops")
    os.makedirs(args.out, exist_ok=True)
    pipelines = crop_pipelines(args.dataset, side, hp)
    model = build(data, hp, args.seed, args.device, args.centering)
    opt = AdamW(model.student.parameters(), lr=hp['lr'], weight_decay=hp['weight_decay'])
    horizon = [hp['steps']]   # the run's last step, known after resume(): both schedules end there
    sched = LambdaLR(opt, lambda t: cosine_with_warmup(hp['warmup'],
                                                       max(horizon[0], hp['warmup'] + 1))(t))
    config = {k: hp[k] for k in ('patch_size', 'width', 'depth', 'heads', 'out_dim',
                                 'teacher_temp', 'student_temp', 'koleo',
                                 'background_swap')} | {
        'dataset': args.dataset, 'centering': args.centering}
    run = TrainingCheckpoints(args, 'dino', config, {'model': model, 'opt': opt,
                                                     'sched': sched},
                              hp['checkpoint_every'], extra=lambda: history | {
                                  'train_seconds':
                                  time.time() - start + float(saved.get('train_seconds', 0.0))})
    step, saved = run.resume()
    history = {k: list(saved.get(k, [])) for k in ('loss', 'teacher_entropy', 'kl', 'koleo')}

    start = time.time()
    with run:
        end = horizon[0] = run.end(step, hp['steps'], saved)
        train(model, opt, sched, data.train, swap and (swap[0], swap[2]), pipelines, hp,
              range(step, end), end, history, args.seed, run, args.device)
    train_seconds = time.time() - start + float(saved.get('train_seconds', 0.0))  # all runs
    step = end
    run.save(step)

    start = time.time()   # frozen features: trained teacher against the ViT at initialisation
    trained = evaluate(model, data, labels, hp)
    random_model = build(data, hp, args.seed, args.device)
    random_init = evaluate(random_model, data, labels, hp)
    eval_seconds = time.time() - start
    if step:
        draw(model, random_model.teacher[0], data, swap, pipelines, history, hp, args)
    tail, label = slice(-20, None), next(iter(labels))
    metrics = {'settings': vars(args) | hp, 'dataset': args.dataset, 'label': label,
               'step': step, 'train_seconds': round(train_seconds, 2),
               'eval_seconds': round(eval_seconds, 2)}
    for probe in ('knn', 'linear_probe'):   # the class token's, trained against random
        ours, base = trained[f'cls_{label}_{probe}'], random_init[f'cls_{label}_{probe}']
        metrics |= {f'{probe}_accuracy': ours, f'random_{probe}_accuracy': base,
                    f'{probe}_margin': round(ours - base, 4)}
    metrics |= {'trained': trained, 'random_init': random_init, 'ln_K': math.log(hp['out_dim'])}
    if history['loss']:
        metrics |= {'first_loss': float(np.mean(history['loss'][:10])),
                    'final_loss': float(np.mean(history['loss'][tail])),
                    'final_teacher_entropy': float(np.mean(history['teacher_entropy'][tail])),
                    'final_kl': float(np.mean(history['kl'][tail]))}
    return write_metrics(args.out, metrics)


if __name__ == '__main__':
    main()
