"""unCLIP (DALL-E 2) on the shapes captions: caption -> CLIP text embedding -> prior -> decoder.

Ramesh, Dhariwal, Nichol, Chu & Chen 2022, "Hierarchical Text-Conditional Image Generation
with CLIP Latents" (arXiv:2204.06125), with minigen/diffusion/unclip.py:
1. A frozen CLIP (demos.clip's run given by --clip, or one trained first into OUT/clip)
   embeds every training image (z_i) and caption (z_t) once.
2. The prior, a diffusion model over z_i conditioned on z_t whose MLP predicts the clean
   embedding: L_prior = E || f_theta(z_i^(t), t, z_t) - z_i ||^2.
3. The decoder, a pixel diffusion UNet on 16x16 images reading z_i added to its timestep
   embedding and as 4 context tokens, z_i zeroed 10% of the time for classifier-free
   guidance: eps~ = eps(x_t, 0) + s (eps(x_t, z_i) - eps(x_t, 0)) (trained on the v target,
   Salimans & Ho 2022, arXiv:2202.00512, linear in eps at a fixed x_t).
Text to image: z_t -> prior (DDIM) -> z_i -> decoder (DDIM, guidance s). Variations: a real
image's z_i decoded with different seeds. Interpolation: slerp(z_1, z_2, theta) decoded from
one fixed x_T. The training set leaves out minigen.data.compositions.HELD_OUT_PAIRS; the
samples (16x16, enlarged by pixel repetition to 32x32) are read by the shapes classifier, and
the prior's cos(z_i sampled, z_i true) is set against the baseline cos(z_t, z_i true).

    python -m demos.unclip [--preset quick|full] [--clip PATH] [--steps N] [--prior-steps N]
        [--guidance S] [--samples N] [--resume] ...

Writes to --out: prompts.png (rows: captions, columns: seeds), variations.png,
interpolation.png, loss.png, samples.npy + captions.txt, metrics.json, checkpoint.npz.
"""
import argparse
import os
import time

import numpy as np

import autograd
from minigen import viz
from minigen.data.compositions import HELD_OUT_PAIRS
from minigen.diffusion import UNet, cosine_schedule, linear_schedule
from minigen.diffusion.unclip import DiffusionPrior, PriorMLP, UnCLIPDecoder, slerp
from minigen.metrics import attribute_accuracy, load_feature_net
from minigen.optim import Adam, EMA, LambdaLR, linear_warmup
from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, existing_path,
                               fit_to_feature_net, halve, non_negative_float, parse_run_args,
                               positive_int, resolve_preset, to_unit, write_captions,
                               write_metrics, write_samples)
import demos.clip
from demos.text2img import UNSEEN, load_data

PRESETS = {  # quick, seed 0: colour 0.967, shape 0.513 (seen); ~21 min CPU (demos/README)
    'quick': dict(clip_steps=250, clip_batch_size=128, clip_n_train=20000, clip_width=32,
                  n_train=10000, prior_steps=1500, prior_batch_size=256, prior_width=256,
                  prior_depth=3, prior_lr=1e-3, steps=2200, batch_size=16, base_channels=32,
                  lr=1e-3, warmup=100, ema=0.995, samples=200, guidance=3.0, sample_steps=25,
                  prior_sample_steps=50, checkpoint_every=100),
    'full': dict(clip_steps=3000, clip_batch_size=256, clip_n_train=50000, clip_width=32,
                 n_train=50000, prior_steps=10000, prior_batch_size=512, prior_width=512,
                 prior_depth=6, prior_lr=3e-4, steps=30000, batch_size=128, base_channels=128,
                 lr=3e-4, warmup=1000, ema=0.999, samples=2000, guidance=3.0, sample_steps=50,
                 prior_sample_steps=64, checkpoint_every=1000),
}


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap, 'unclip', PRESETS, datasets=('shapes',), checkpoints=True)
    for flag, kind, what in (('--steps', count, 'decoder steps in all'),
                             ('--prior-steps', count, 'prior steps in all'),
                             ('--batch-size', positive_int, None),
                             ('--base-channels', positive_int, "the decoder UNet's width"),
                             ('--prior-width', positive_int, None),
                             ('--n-train', positive_int, 'training images drawn'),
                             ('--samples', positive_int, 'test captions (1/4 held-out pairs)'),
                             ('--guidance', non_negative_float, "the decoder's guidance s"),
                             ('--sample-steps', positive_int, "the decoder's DDIM steps"),
                             ('--clip-steps', positive_int, 'steps of the CLIP trained here'),
                             ('--clip-n-train', positive_int, None),
                             ('--clip-batch-size', positive_int, None),
                             ('--clip-width', positive_int,
                              'CLIP here: ResNet widths W, 2W, 4W, text width 2W')):
        ap.add_argument(flag, type=kind, help=what)
    ap.add_argument('--clip', type=existing_path, metavar='PATH',
                    help="demos.clip's run (folder or checkpoint)")
    ap.add_argument('--seeds', type=positive_int, default=6, help='columns of prompts.png')
    return parse_run_args(ap, argv)


def build(args, hp, embed_dim):
    """The prior and the decoder, their optimizers, the decoder's warm-up and EMA."""
    autograd.manual_seed(args.seed)
    prior = DiffusionPrior(PriorMLP(embed_dim, hp['prior_width'], hp['prior_depth']),
                           cosine_schedule(1000)).to(args.device)
    unet = UNet(3, resolution=16, base_channels=hp['base_channels'], channel_mults=(1, 2),
                attention_resolutions=(8,), context_dim=2 * hp['base_channels'],
                pooled_dim=embed_dim)
    # v target on Ho et al.'s linear schedule, as demos.ddpm's 16x16 presets: with eps on the
    # cosine schedule, 500 steps left visible noise in every sample (colour read 8-33%)
    decoder = UnCLIPDecoder(unet, linear_schedule(1000), embed_dim,
                            objective='v').to(args.device)
    opt = Adam(decoder.parameters(), lr=hp['lr'])
    return (prior, decoder, Adam(prior.parameters(), lr=hp['prior_lr']), opt,
            LambdaLR(opt, linear_warmup(hp['warmup'])), EMA(decoder, decay=hp['ema']))


def train_prior(run, hp):
    """L_prior on random batches of the training (z_i, z_t) pairs."""
    for step in viz.progress(range(run.prior_step, hp['prior_steps']), 'prior'):
        i = autograd.randint(0, len(run.z_i), (hp['prior_batch_size'],), device=run.device)
        loss = run.prior.loss(run.z_i[i], run.z_t[i])
        run.prior_opt.zero_grad()
        loss.backward()
        run.prior_opt.step()
        run.prior_losses.append(loss.item())
        run.prior_step = step + 1
        run.checkpoints.step_done(run.prior_step + run.step)


def train_decoder(run, hp):
    """The decoder's v loss on random batches of 16x16 training images and their z_i."""
    x = autograd.tensor(halve(run.train.images) * 2 - 1, device=run.device)
    for step in viz.progress(range(run.step, hp['steps']), 'decoder'):
        i = autograd.randint(0, len(x), (hp['batch_size'],), device=run.device)
        loss = run.decoder.loss(x[i], run.z_i[i])
        run.opt.zero_grad()
        loss.backward()
        run.opt.step()
        run.lr_schedule.step()
        run.ema.update()
        run.losses.append(loss.item())
        run.step = step + 1
        run.checkpoints.step_done(run.prior_step + run.step)


def decode(run, hp, z_i, seed, x_T=None):
    """Images in [0, 1] (16x16) for image embeddings z_i, EMA weights, guidance hp['guidance']."""
    with run.ema.average_parameters():
        run.decoder.train(False)
        x = run.decoder.sample(z_i, hp['guidance'], hp['sample_steps'], x_T=x_T, seed=seed)
    return to_unit(x).astype(np.float32)


def text_to_image(run, hp, captions, seed):
    """Captions -> z_t (CLIP) -> z_i (prior) -> images (decoder); also returns z_i."""
    z_i = run.prior.sample(run.clip.text_embeddings(list(captions)),
                           hp['prior_sample_steps'], seed=seed)
    return decode(run, hp, z_i, seed + 1), z_i


def pictures(run, args, hp):
    """prompts.png, variations.png, interpolation.png, loss.png."""
    out, k = run.out, args.seeds
    prompts = [run.seen.captions[i] for i in range(3)] + list(UNSEEN)
    grid, _ = text_to_image(run, hp, [p for p in prompts for _ in range(k)], args.seed + 1)
    viz.save_image(grid, os.path.join(out, 'prompts.png'), nrow=k, row_labels=prompts, scale=4)
    real = run.seen.images[:4]
    z = run.clip.image_embeddings(real)
    variations = decode(run, hp, np.repeat(z, k, axis=0), args.seed + 2)
    rows = np.concatenate([halve(real)[:, None], variations.reshape(4, k, 3, 16, 16)], axis=1)
    viz.save_image(rows.reshape(-1, 3, 16, 16), os.path.join(out, 'variations.png'), nrow=k + 1,
                   scale=4)
    pairs, n = run.seen.images[4:10], 8
    z1, z2 = run.clip.image_embeddings(pairs[0::2]), run.clip.image_embeddings(pairs[1::2])
    theta = np.linspace(0, 1, n)
    path = np.concatenate([slerp(a, b, theta) for a, b in zip(z1, z2)])
    x_T = np.random.default_rng(args.seed + 3).standard_normal((len(z1), 1, 3, 16, 16))
    x_T = autograd.tensor(np.repeat(x_T, n, axis=1).reshape(-1, 3, 16, 16).astype(np.float32),
                          device=run.device)  # one fixed x_T along each row
    strip = decode(run, hp, path, args.seed + 3, x_T).reshape(len(z1), n, 3, 16, 16)
    ends = halve(pairs).reshape(len(z1), 2, 1, 3, 16, 16)
    viz.save_interpolation(np.concatenate([ends[:, 0], strip, ends[:, 1]], axis=1),
                           os.path.join(out, 'interpolation.png'), scale=4)
    if run.losses:
        viz.save_curves({'decoder v loss': np.array(run.losses),
                         'prior x0 loss': np.array(run.prior_losses)},
                        os.path.join(out, 'loss.png'), log_y=True)


def evaluate(run, hp, seed):
    """Samples for test captions (3/4 seen, 1/4 held-out compositions): the shapes
    classifier's accuracy, and the prior's cosines to the true image embeddings. Beside
    them, on a quarter of the seen captions, the decoder given the true image embedding
    (its ceiling) and given the text embedding itself in place of the prior's sample."""
    n_held = min(len(run.held.images), hp['samples'] // 4)
    n_seen = hp['samples'] - n_held
    captions = run.seen.captions[:n_seen] + run.held.captions[:n_held]
    samples, z_prior = text_to_image(run, hp, captions, seed)
    samples = fit_to_feature_net(samples, 'shapes')[0]  # 16x16 -> 32x32 by pixel repetition
    real = np.concatenate([run.seen.images[:n_seen], run.held.images[:n_held]])
    z_true, z_text = run.clip.image_embeddings(real), run.clip.text_embeddings(captions)
    net, m = load_feature_net('shapes'), {'n_seen': n_seen, 'n_held_out': n_held}
    for part, rows, data in (('', slice(0, n_seen), run.seen),
                             ('_held_out_compositions', slice(n_seen, None), run.held)):
        m[f'accuracy{part}'] = attribute_accuracy(net, samples[rows], data.attrs)
        m[f'prior_cosine{part}'] = float(np.sum(z_prior[rows] * z_true[rows], 1).mean())
        m[f'text_cosine_baseline{part}'] = float(np.sum(z_text[rows] * z_true[rows], 1).mean())
        m[f'real_accuracy_16px{part}'] = attribute_accuracy(
            net, fit_to_feature_net(halve(real[rows]), 'shapes')[0], data.attrs)
    k = max(1, n_seen // 4)  # the decoder alone, on the first quarter of the seen captions
    for name, z in (('true_image_embedding', z_true[:k]), ('text_embedding', z_text[:k])):
        x = fit_to_feature_net(decode(run, hp, z, seed + 2), 'shapes')[0]
        m[f'accuracy_decoding_{name}'] = attribute_accuracy(net, x, run.seen.attrs)
    return samples, captions, m


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)
    began = time.time()
    run = argparse.Namespace(out=args.out, device=args.device, prior_step=0, step=0, losses=[],
                             prior_losses=[])
    run.train, run.seen, run.held = load_data(args, hp)
    run.clip = demos.clip.trained_clip(args, hp)
    run.z_i = autograd.tensor(run.clip.image_embeddings(run.train.images), device=args.device)
    run.z_t = autograd.tensor(run.clip.text_embeddings(run.train.captions), device=args.device)
    clip_seconds = time.time() - began
    run.prior, run.decoder, run.prior_opt, run.opt, run.lr_schedule, run.ema = build(
        args, hp, run.clip.embed_dim)
    state = {'prior': run.prior, 'prior_opt': run.prior_opt, 'decoder': run.decoder,
             'opt': run.opt, 'lr_schedule': run.lr_schedule, 'ema': run.ema}
    config = {k: hp[k] for k in ('n_train', 'prior_width', 'prior_depth', 'base_channels')} | {
        'clip': args.clip, 'decoder_objective': 'v'}
    run.checkpoints = TrainingCheckpoints(args, 'unclip', config, state, hp['checkpoint_every'],
                                          lambda: {'prior_step': run.prior_step,
                                                   'decoder_step': run.step,
                                                   'losses': np.array(run.losses),
                                                   'prior_losses': np.array(run.prior_losses)})
    _, saved = run.checkpoints.resume()
    if saved:
        run.prior_step, run.step = int(saved['prior_step']), int(saved['decoder_step'])
        run.losses, run.prior_losses = list(saved['losses']), list(saved['prior_losses'])
    with run.checkpoints:  # SIGINT/SIGTERM: save at the end of the step, then stop
        train_prior(run, hp)
        train_decoder(run, hp)
    run.checkpoints.save(run.prior_step + run.step)
    train_seconds = time.time() - began - clip_seconds
    pictures(run, args, hp)
    samples, captions, m = evaluate(run, hp, args.seed + 4)
    write_samples(args.out, samples, 'unclip')
    write_captions(args.out, captions)
    return write_metrics(args.out, {
        'settings': vars(args) | hp, 'prior_step': run.prior_step, 'decoder_step': run.step,
        'held_out_pairs': HELD_OUT_PAIRS, 'resolution': 16,
        'clip_seconds': round(clip_seconds, 1), 'train_seconds': round(train_seconds, 1), **m,
        'final_prior_loss': float(np.mean(run.prior_losses[-100:])) if run.prior_losses else None,
        'final_decoder_loss': float(np.mean(run.losses[-100:])) if run.losses else None,
        'seconds': round(time.time() - began, 1)})


if __name__ == '__main__':
    main()
