"""DALL-E 1 on the shapes captions: dVAE tokens drawn after the caption, reranked by CLIP.

Ramesh et al. 2021, "Zero-Shot Text-to-Image Generation" (arXiv:2102.12092), in three stages:
1. A dVAE (minigen/autoregressive/dvae.py) turns a 32x32 image into a grid of tokens over K
   codes: a categorical posterior relaxed by Gumbel-softmax, temperature annealed from 1 to
   1/16, L = ||x - D(e)||^2 + beta KL(q(z | x) || U(K)); the codebook perplexity is reported.
2. A GPT (minigen/autoregressive/dalle.py) over [caption tokens; image tokens] learns
   L = 1/8 CE_text + 7/8 CE_image on the training images' token grids.
3. For each caption, k candidates are drawn token by token (temperature, top-k) and decoded;
   a CLIP model keeps the one whose image embedding is nearest the caption's (Sec. 2.5).
The CLIP is demos.clip's run given by --clip, or, without it, a small one trained first into
OUT/clip by demos.clip itself. The training set leaves out
minigen.data.compositions.HELD_OUT_PAIRS (every red triangle, ...); the samples of seen and
held-out captions are read by the shapes classifier (minigen.metrics, four heads), before
reranking (every candidate) and after (the kept one).

    python -m demos.dalle [--preset quick|full] [--clip PATH] [--steps N] [--dvae-steps N]
        [--candidates K] [--temperature T] [--top-k N] [--captions N] [--resume] ...

Writes to --out: prompts.png (rows: prompts, columns: candidates, the reranked one framed),
tokens.png (token grids beside the decoded images), reconstructions.png, loss.png,
samples.npy + captions.txt (the reranked sample per caption), metrics.json, checkpoint.npz.
"""
import argparse
import os
import time

import numpy as np
from PIL import Image

import autograd
from minigen import viz
from minigen.autoregressive import DALLE, DiscreteVAE, draw_candidates, perplexity, rerank
from minigen.autoregressive.dvae import temperature
from minigen.data.compositions import HELD_OUT_PAIRS
from minigen.data.tokenizer import Tokenizer
from minigen.metrics import attribute_accuracy, load_feature_net
from minigen.optim import Adam
from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, existing_path,
                               in_batches, non_negative_float, parse_run_args, positive_float,
                               positive_int, resolve_preset, write_captions, write_metrics,
                               write_samples)
import demos.clip
from demos.text2img import UNSEEN, load_data

PRESETS = {  # quick: 541 s of CPU, colour 0.92 / shape 0.56 after reranking (demos/README)
    'quick': dict(dvae_steps=800, dvae_batch_size=32, dvae_lr=2e-3, hidden=(32, 64),
                  num_codes=64, code_dim=32, beta=0.01, steps=600, batch_size=32, lr=2e-3,
                  d_model=96, layers=3, n_train=10000, clip_steps=250, clip_batch_size=128,
                  clip_n_train=20000, clip_width=32, captions=64, candidates=16,
                  checkpoint_every=100),
    'full': dict(dvae_steps=5000, dvae_batch_size=64, dvae_lr=1e-3, hidden=(64, 128),
                 num_codes=512, code_dim=64, beta=0.01, steps=20000, batch_size=64, lr=3e-4,
                 d_model=256, layers=8, n_train=50000, clip_steps=3000, clip_batch_size=256,
                 clip_n_train=50000, clip_width=32, captions=400, candidates=32,
                 checkpoint_every=1000)}
TEXT_LEN = 10  # <sot> + the 8 words of the longest single-object caption + <eot>


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap, 'dalle', PRESETS, datasets=('shapes',), checkpoints=True)
    for flag, kind, what in (('--steps', count, 'transformer steps in all'),
                             ('--dvae-steps', count, 'dVAE steps in all'),
                             ('--batch-size', positive_int, None),
                             ('--num-codes', positive_int, 'K, the dVAE codebook size'),
                             ('--d-model', positive_int, 'transformer width'),
                             ('--layers', positive_int, 'transformer blocks'),
                             ('--n-train', positive_int, 'training images drawn'),
                             ('--clip-steps', positive_int, 'steps of the CLIP trained here'),
                             ('--clip-n-train', positive_int, None),
                             ('--clip-batch-size', positive_int, None),
                             ('--clip-width', positive_int,
                              "CLIP here: ResNet widths W, 2W, 4W, text width 2W"),
                             ('--captions', positive_int, 'test captions (1/4 held-out pairs)'),
                             ('--candidates', positive_int, 'k samples per caption'),
                             ('--beta', non_negative_float, 'KL weight of the dVAE'),
                             ('--lr', positive_float, "the transformer's Adam rate")):
        ap.add_argument(flag, type=kind, help=what)
    ap.add_argument('--temperature', type=non_negative_float, default=1.0)
    ap.add_argument('--top-k', type=positive_int, help='sample among the k likeliest codes')
    ap.add_argument('--clip', type=existing_path, metavar='PATH',
                    help="demos.clip's run (folder or checkpoint)")
    return parse_run_args(ap, argv)


def train_dvae(run, hp):
    """Stage 1: the dVAE, tau annealed over its steps."""
    bar = viz.progress(range(run.dvae_step, hp['dvae_steps']), 'dVAE')
    for step in bar:
        i = autograd.randint(0, len(run.train.images), (hp['dvae_batch_size'],)).numpy()
        out = run.dvae.loss(autograd.tensor(run.train.images[i], device=run.device),
                            temperature(step, hp['dvae_steps']), hp['beta'])
        run.dvae_opt.zero_grad()
        out['loss'].backward()
        run.dvae_opt.step()
        run.dvae_losses.append([out['recon'].item(), out['kl'].item(), out['perplexity']])
        run.dvae_step = step + 1
        run.checkpoints.step_done(run.dvae_step + run.step)


def train_transformer(run, hp):
    """Stage 2: the GPT on [caption; tokens of the training image] (the tokens computed once)."""
    run.dvae.eval()
    tokens = in_batches(lambda x: autograd.tensor(run.dvae.encode(x)), run.train.images,
                        run.device).reshape(len(run.train.images), -1)
    text = run.tok.encode(run.train.captions)
    for step in viz.progress(range(run.step, hp['steps']), 'transformer'):
        i = autograd.randint(0, len(tokens), (hp['batch_size'],)).numpy()
        out = run.dalle.loss(text[i], tokens[i])
        run.opt.zero_grad()
        out['loss'].backward()
        run.opt.step()
        run.losses.append([out['text'].item(), out['image'].item()])
        run.step = step + 1
        run.checkpoints.step_done(run.dvae_step + run.step)


def framed(images, best, width=2):
    """Candidates (n, k, C, H, W) with a frame: yellow round the kept one, black elsewhere."""
    n, k, c, h, w = images.shape
    out = np.zeros((n, k, c, h + 2 * width, w + 2 * width), np.float32)
    out[np.arange(n), best] = np.array([1.0, 0.85, 0.0])[:, None, None]
    out[..., width:-width, width:-width] = images
    return out


def pictures(run, args, hp, clip):
    """prompts.png, tokens.png, reconstructions.png and loss.png."""
    prompts = [run.seen.captions[i] for i in range(3)] + list(UNSEEN)
    tokens, images = draw_candidates(run.dalle, run.dvae, run.tok.encode(prompts),
                                     hp['candidates'], args.temperature, args.top_k)
    best, _ = rerank(clip, images, prompts)
    k = hp['candidates']
    grid = framed(images, best)
    viz.save_image(grid.reshape(-1, *grid.shape[2:]), os.path.join(run.out, 'prompts.png'),
                   nrow=k, row_labels=prompts, scale=2)
    strips = []
    for i in range(len(prompts)):
        viz.save_token_grid(images[i, best[i]], tokens[i, best[i]], run.out + '/token.png',
                            cell=24)
        strips.append(np.asarray(Image.open(run.out + '/token.png')))
    os.remove(run.out + '/token.png')
    Image.fromarray(np.concatenate(strips)).save(os.path.join(run.out, 'tokens.png'))
    real = run.seen.images[:8]
    with autograd.no_grad():
        rec = run.dvae.reconstruct(autograd.tensor(real, device=run.device)).numpy()
    viz.save_image(np.concatenate([real, rec]), os.path.join(run.out, 'reconstructions.png'),
                   nrow=8, row_labels=['images', 'D(argmax E(x))'], scale=2)
    if run.losses:
        viz.save_curves({'text CE': np.array(run.losses)[:, 0],
                         'image CE': np.array(run.losses)[:, 1],
                         'dVAE recon x 10': 10 * np.array(run.dvae_losses)[:, 0]},
                        os.path.join(run.out, 'loss.png'), log_y=True)


def evaluate(run, args, hp, clip):
    """k candidates for each test caption (3/4 seen, 1/4 held-out pairs), reranked; the
    shapes classifier's accuracy on every candidate (before) and on the kept one (after)."""
    n_held = min(len(run.held.images), hp['captions'] // 4)
    n_seen = hp['captions'] - n_held
    captions = run.seen.captions[:n_seen] + run.held.captions[:n_held]
    attrs = {a: np.concatenate([run.seen.attrs[a][:n_seen], run.held.attrs[a][:n_held]])
             for a in run.seen.attrs}
    k = hp['candidates']
    tokens, images = draw_candidates(run.dalle, run.dvae, run.tok.encode(captions), k,
                                     args.temperature, args.top_k)
    best, scores = rerank(clip, images, captions)
    kept = images[np.arange(len(captions)), best]
    net, m = load_feature_net('shapes'), {}
    for part, rows in (('', slice(0, n_seen + n_held)), ('_seen', slice(0, n_seen)),
                       ('_held_out_compositions', slice(n_seen, n_seen + n_held))):
        m[f'accuracy_before_rerank{part}'] = attribute_accuracy(
            net, images[rows].reshape(-1, *images.shape[2:]),
            {a: np.repeat(v[rows], k) for a, v in attrs.items()})
        m[f'accuracy_after_rerank{part}'] = attribute_accuracy(
            net, kept[rows], {a: v[rows] for a, v in attrs.items()})
    real = np.concatenate([run.seen.images[:n_seen], run.held.images[:n_held]])
    with autograd.no_grad():
        rec = in_batches(run.dvae.reconstruct, real, run.device)
    m |= {'accuracy_real': attribute_accuracy(net, real, attrs),
          'accuracy_dvae_reconstructions': attribute_accuracy(net, rec, attrs),
          'dvae_perplexity': perplexity(run.dvae.encode(autograd.tensor(real)), hp['num_codes']),
          'dvae_reconstruction_mse': float(((rec - real) ** 2).mean()),
          'sample_perplexity': perplexity(tokens, hp['num_codes']),
          'clip_cosine_kept': float(scores.max(1).mean()),
          'clip_cosine_mean': float(scores.mean()), 'n_seen': n_seen, 'n_held_out': n_held}
    return kept, captions, m


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)
    began = time.time()
    run = argparse.Namespace(out=args.out, device=args.device, dvae_step=0, step=0, losses=[],
                             dvae_losses=[], tok=Tokenizer(context_length=TEXT_LEN))
    run.train, run.seen, run.held = load_data(args, hp | {'samples': hp['captions']})
    autograd.manual_seed(args.seed)
    run.dvae = DiscreteVAE((3, 32, 32), hp['hidden'], hp['num_codes'], hp['code_dim'])
    grid = run.dvae.grid
    run.dalle = DALLE(run.tok.vocab_size, TEXT_LEN, hp['num_codes'], grid[0] * grid[1],
                      hp['d_model'], hp['layers'], n_heads=4)
    run.dvae, run.dalle = run.dvae.to(args.device), run.dalle.to(args.device)
    run.dvae_opt = Adam(run.dvae.parameters(), lr=hp['dvae_lr'])
    run.opt = Adam(run.dalle.parameters(), lr=hp['lr'])
    state = {'dvae': run.dvae, 'dvae_opt': run.dvae_opt, 'dalle': run.dalle, 'opt': run.opt}
    config = {k: hp[k] for k in ('hidden', 'num_codes', 'code_dim', 'd_model', 'layers',
                                 'n_train')}
    run.checkpoints = TrainingCheckpoints(args, 'dalle', config, state, hp['checkpoint_every'],
                                          lambda: {'dvae_step': run.dvae_step,
                                                   'transformer_step': run.step,
                                                   'losses': np.array(run.losses),
                                                   'dvae_losses': np.array(run.dvae_losses)})
    _, saved = run.checkpoints.resume()
    if saved:
        run.dvae_step, run.step = int(saved['dvae_step']), int(saved['transformer_step'])
        run.losses, run.dvae_losses = list(saved['losses']), list(saved['dvae_losses'])
    with run.checkpoints:  # SIGINT/SIGTERM: save at the end of the step, then stop
        train_dvae(run, hp)
        train_transformer(run, hp)
    run.checkpoints.save(run.dvae_step + run.step)
    train_seconds = time.time() - began
    clip = demos.clip.trained_clip(args, hp)
    clip_seconds = time.time() - began - train_seconds
    run.dvae.eval()
    run.dalle.eval()
    autograd.manual_seed(args.seed + 4)
    pictures(run, args, hp, clip)
    samples, captions, m = evaluate(run, args, hp, clip)
    write_samples(args.out, samples, 'dalle')
    write_captions(args.out, captions)
    final = np.mean(run.losses[-50:], axis=0) if run.losses else [None, None]
    return write_metrics(args.out, {
        'settings': vars(args) | hp, 'dvae_step': run.dvae_step, 'transformer_step': run.step,
        'held_out_pairs': HELD_OUT_PAIRS, 'token_grid': list(grid),
        'train_seconds': round(train_seconds, 1), 'clip_seconds': round(clip_seconds, 1), **m,
        'final_text_ce': final[0], 'final_image_ce': final[1],
        'seconds': round(time.time() - began, 1)})


if __name__ == '__main__':
    main()
