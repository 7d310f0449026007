"""CLIP on the shapes captions: one embedding space for images and the texts that describe them.

Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
Supervision" (arXiv:2103.00020). A small ResNet (or, with --image-tower vit, a Vision
Transformer: minigen/contrastive/vit.py) embeds images, a small causal Transformer
embeds captions ("a large red circle in the top left"), both are projected and
L2-normalised, and for a batch of N pairs the logits are exp(t) I T^T (N x N) with a
learned temperature t (init ln(1/0.07), clamped at ln 100). The loss is the symmetric
cross entropy

    L = ( CE(exp(t) I T^T, arange N) + CE(exp(t) T I^T, arange N) ) / 2 .

Then, with no further training: zero-shot classification of each attribute by prompts
(the captions naming each value, averaged over every value of the other attributes:
prompt ensembling, Sec. 3.1.4), including images whose (shape, colour) pair never
appeared in training; image <-> text retrieval recall@1/5/10; and the CLIP score
(Hessel et al. 2021, arXiv:2104.08718) 100 mean max(cos, 0) of true against shuffled
captions (computed with this small CLIP, so not comparable with published numbers).

Data: image-caption pairs of the built-in shapes set (its one captioned dataset), drawn
afresh for --n-train and --n-test.

    python -m demos.clip [--preset quick|full] [--dataset shapes] [--steps N]
        [--batch-size B] [--n-train N] [--n-test N] [--widths W ...] [--text-width D]
        [--image-tower resnet|vit]
        [--checkpoint-every N] [--device cpu|cuda] [--seed S] [--out out/clip] [--resume]

Writes to --out: similarity.png (cosines of a batch of images and captions), loss.png,
zero_shot.png (images with their predicted captions), metrics.json (zero-shot accuracy
per attribute, recall@k, CLIP scores) and checkpoint.npz (which --resume continues).
"""
import argparse
import itertools
import math
import os
import time

import numpy as np

import autograd
from minigen import viz
from minigen import load
from minigen.contrastive.clip import CLIP, retrieval_recall, zero_shot_predict
from minigen.contrastive.encoders import ResNetEncoder, TextTransformer
from minigen.contrastive.vit import ViT
from minigen.data.shapes import COLORS, SHAPES, VOCAB, caption, make_shapes
from minigen.data.tokenizer import Tokenizer
from minigen.metrics.clip_score import clip_score
from minigen.optim import Adam
from minigen.viz.loss_curve import save_loss_curve
from minigen.viz.similarity import save_similarity

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, parse_run_args,
                               positive_int, resolve_preset, write_metrics)

PRESETS = {'quick': dict(steps=300, batch_size=128, widths=(32, 64, 128), stem_stride=2,
                         text_width=64, text_layers=2, n_train=20000, n_test=1000, lr=1e-3,
                         embed_dim=64, image_tower='resnet', vit_width=64, vit_depth=4,
                         patch_size=4, checkpoint_every=100),
           'full': dict(steps=3000, batch_size=256, widths=(32, 64, 128), stem_stride=1,
                        text_width=128, text_layers=3, n_train=50000, n_test=2000, lr=1e-3,
                        embed_dim=64, image_tower='resnet', vit_width=128, vit_depth=6,
                        patch_size=4, checkpoint_every=500)}
# (shape, colour) pairs never shown in training: zero-shot on new combinations
HELD_OUT = [(s, c) for s, c in itertools.product(range(len(SHAPES)), range(len(COLORS)))
            if (s + 2 * c) % 7 == 3]


def held_out_mask(attrs):
    pair = attrs['shape'] * len(COLORS) + attrs['color']
    return np.isin(pair, [s * len(COLORS) + c for s, c in HELD_OUT])


ALL_COMBOS = np.array(list(itertools.product(*(range(len(v)) for v in VOCAB.values()))))
ALL_CAPTIONS = [caption(*c) for c in ALL_COMBOS]   # the 720 single-object captions


def zero_shot(all_emb, image_emb, attrs):
    """Accuracy of each attribute from prompt ensembles: the class embedding of value v is
    the re-normalised mean of the embeddings of every caption naming v (all values of the
    other attributes), all_emb being the embeddings of ALL_CAPTIONS."""
    correct = {}
    for a, (attribute, values) in enumerate(VOCAB.items()):
        weights = np.stack([all_emb[ALL_COMBOS[:, a] == v].mean(0) for v in range(len(values))])
        weights /= np.linalg.norm(weights, axis=1, keepdims=True)       # (classes, D)
        pred, _ = zero_shot_predict(image_emb, weights)
        correct[attribute] = pred == attrs[attribute]
    return correct


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=count, help='training steps in this run (0: evaluate only)')
    ap.add_argument('--batch-size', type=positive_int, help='image-caption pairs per step')
    ap.add_argument('--n-train', type=positive_int, help='training pairs drawn (before the '
                                                         'held-out (shape, colour) pairs are '
                                                         'dropped)')
    ap.add_argument('--n-test', type=positive_int, help='test pairs')
    ap.add_argument('--widths', type=positive_int, nargs='+', help='ResNet stage widths')
    ap.add_argument('--text-width', type=positive_int, help='Transformer width')
    ap.add_argument('--image-tower', choices=('resnet', 'vit'),
                    help='the image encoder: the small ResNet or a ViT (patch 4, width 64, '
                         '4 blocks in the quick preset)')
    add_run_arguments(ap, 'clip', PRESETS, datasets=('shapes',), checkpoints=True)
    return parse_run_args(ap, argv)


def load_pairs(hp, seed, tok):
    """Training images and caption tokens without the held-out (shape, colour) pairs, and
    the test set (images, captions, attributes)."""
    train = make_shapes(hp['n_train'], size=32, seed=seed)
    keep = ~held_out_mask(train.attrs)
    captions = [c for c, k in zip(train.captions, keep) if k]
    return train.images[keep], tok.encode(captions), make_shapes(hp['n_test'], size=32,
                                                                 seed=seed + 1)


def build(tok, hp, seed, device):
    autograd.manual_seed(seed)
    if hp.get('image_tower') == 'vit':  # a ResNet run's config has no image_tower
        image_encoder = ViT(3, 32, hp['patch_size'], hp['vit_width'], hp['vit_depth'], heads=4)
    else:
        image_encoder = ResNetEncoder(3, widths=hp['widths'], stem_stride=hp['stem_stride'])
    text_encoder = TextTransformer(tok.vocab_size, tok.context_length, width=hp['text_width'],
                                   layers=hp['text_layers'], heads=4, eot_token=tok.eot)
    return CLIP(image_encoder, text_encoder, embed_dim=hp['embed_dim'], tokenizer=tok).to(device)


def train(model, opt, x_train, ids_train, hp, steps, losses, scales, seed, run, device):
    """The symmetric contrastive loss over `steps`, checkpointed by `run`."""
    bar = viz.progress(steps, 'train')
    for step in bar:
        rng = np.random.default_rng([seed, step])   # per-step stream: exact resume
        idx = rng.choice(len(x_train), hp['batch_size'], replace=False)
        loss = model.loss(autograd.tensor(x_train[idx], device=device), ids_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.clamp_logit_scale()                        # t <- clip(t, 0, ln 100)
        losses.append(loss.item())
        scales.append(math.exp(model.logit_scale.item()))
        if step % 10 == 0:
            bar.set_postfix(loss=f'{np.mean(losses[-10:]):.3f}', scale=f'{scales[-1]:.1f}')
        run.step_done(step + 1)


def evaluate(model, test, seed):
    """Zero-shot accuracy per attribute (prompt ensembles, and the best of all 720
    captions), on all test images and on the held-out (shape, colour) pairs; recall@k both
    ways; CLIP scores of true and shuffled captions. Also the embeddings and best captions
    the figures draw."""
    img, txt = model.image_embeddings(test.images), model.text_embeddings(test.captions)
    all_emb = model.text_embeddings(ALL_CAPTIONS)
    held = held_out_mask(test.attrs)
    correct = zero_shot(all_emb, img, test.attrs)
    best = (img @ all_emb.T).argmax(1)   # which of all 720 single-object captions fits best
    exact = np.array([ALL_CAPTIONS[b] == c for b, c in zip(best, test.captions)])
    by_caption = {k: ALL_COMBOS[best, a] == test.attrs[k] for a, k in enumerate(VOCAB)}
    shuffled = list(np.random.default_rng(seed).permutation(test.captions))

    def accuracy(hits, where=None):   # None when no test image has a held-out pair
        if where is None or where.any():
            return {k: float(v[where if where is not None else slice(None)].mean())
                    for k, v in hits.items()}
        return None

    return {'zero_shot_accuracy': accuracy(correct),
            'zero_shot_accuracy_held_out_pairs': accuracy(correct, held),
            'zero_shot_accuracy_best_caption': accuracy(by_caption),
            'zero_shot_accuracy_best_caption_held_out_pairs': accuracy(by_caption, held),
            'chance': {k: 1 / len(v) for k, v in VOCAB.items()},
            'zero_shot_exact_caption_of_720': float(exact.mean()),
            'retrieval_recall_same_caption': retrieval_recall(img, txt, ks=(1, 5, 10),
                                                              image_keys=test.captions),
            'retrieval_recall_strict_100_pairs': retrieval_recall(img[:100], txt[:100],
                                                                  ks=(1, 5, 10)),
            'clip_score_real': clip_score(test.images, test.captions, model),
            'clip_score_shuffled': clip_score(test.images, shuffled, model),
            'n_test_held_out_pairs': int(held.sum())}, (img, txt, best, exact)


def draw(test, embedded, losses, batch_size, out):
    """similarity.png (8 test pairs with distinct captions), zero_shot.png (16 test images
    with their best caption of 720) and loss.png."""
    img, txt, best, exact = embedded
    first = sorted({c: i for i, c in reversed(list(enumerate(test.captions)))}.values())[:8]
    save_similarity(test.images[first], [test.captions[i] for i in first],
                    img[first] @ txt[first].T, os.path.join(out, 'similarity.png'))
    viz.save_image(test.images[:16], os.path.join(out, 'zero_shot.png'), nrow=4, scale=3,
                   captions=[('ok: ' if exact[i] else 'x: ') + ALL_CAPTIONS[best[i]]
                             for i in range(16)])
    save_loss_curve(losses, os.path.join(out, 'loss.png'), label='CLIP loss', window=20,
                    log_y=False, title=f'CLIP on shapes captions (batch {batch_size}; chance '
                                       f'ln {batch_size} = {math.log(batch_size):.2f})')


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)
    tok = Tokenizer()
    x_train, ids_train, test = load_pairs(hp, args.seed, tok)
    model = build(tok, hp, args.seed, args.device)
    opt = Adam(model.parameters(), lr=hp['lr'])
    config = {k: hp[k] for k in ('widths', 'stem_stride', 'text_width', 'text_layers',
                                 'embed_dim')} | {'dataset': args.dataset}
    if hp.get('image_tower') == 'vit':  # a ResNet run's config has no image_tower   # (a ResNet run's config is as it was before ViTs)
        config |= {k: hp[k] for k in ('image_tower', 'vit_width', 'vit_depth', 'patch_size')}
    run = TrainingCheckpoints(args, 'clip', config, {'model': model, 'opt': opt},
                              hp['checkpoint_every'], extra=lambda: {
                                  'losses': losses, 'scales': scales, 'train_seconds':
                                  time.time() - start + float(saved.get('train_seconds', 0.0))})
    step, saved = run.resume()
    losses, scales = list(saved.get('losses', [])), list(saved.get('scales', []))

    start = time.time()
    with run:
        end = run.end(step, hp['steps'], saved)
        train(model, opt, x_train, ids_train, hp, range(step, end), losses, scales, args.seed,
              run, args.device)
    train_seconds = time.time() - start + float(saved.get('train_seconds', 0.0))  # all runs
    step = end
    run.save(step)

    start = time.time()
    figures, embedded = evaluate(model, test, args.seed)
    eval_seconds = time.time() - start
    draw(test, embedded, losses, hp['batch_size'], args.out)
    held_out_pairs = [f'{COLORS[c]} {SHAPES[s]}' for s, c in HELD_OUT]
    metrics = {'settings': vars(args) | hp | {'n_train_pairs': len(x_train),
                                              'held_out_shape_color': held_out_pairs},
               'step': step, 'train_seconds': round(train_seconds, 2),
               'eval_seconds': round(eval_seconds, 2),
               'first_loss': float(np.mean(losses[:10])),
               'final_loss': float(np.mean(losses[-20:])), 'logit_scale_exp': scales[-1]} | figures
    return write_metrics(args.out, metrics)


def trained_clip(args, hp):
    """A frozen CLIP for another demo (DALL-E's reranker, unCLIP, CLIP guidance): the run at
    args.clip (a demos.clip folder or checkpoint) when given, else the one in OUT/clip,
    trained there first (or resumed) until it has hp['clip_steps'] steps of
    hp['clip_batch_size'] pairs out of hp['clip_n_train'], with ResNet widths W, 2W, 4W and
    text width 2W for W = hp['clip_width']. Returned in eval mode."""
    path, out = args.clip, os.path.join(args.out, 'clip')
    steps, seed, device = hp['clip_steps'], args.seed, args.device
    ckpt_path = path or out
    ckpt_path = ckpt_path if ckpt_path.endswith('.npz') else os.path.join(ckpt_path,
                                                                           'checkpoint.npz')
    if not path and not (os.path.exists(ckpt_path) and load(ckpt_path)['step'] >= steps):
        width = hp['clip_width']
        main(['--steps', str(steps), '--batch-size', str(hp['clip_batch_size']),
              '--n-train', str(hp['clip_n_train']),
              '--widths', *(str(width * m) for m in (1, 2, 4)), '--text-width', str(2 * width),
              '--n-test', '200', '--seed', str(seed), '--device', device, '--out', out]
             + ['--resume'] * os.path.exists(ckpt_path))
    ckpt = load(ckpt_path)
    clip = build(Tokenizer(), ckpt['config'], seed, device)
    clip.load_state_dict(ckpt['state']['model'])
    return clip.eval()


if __name__ == '__main__':
    main()
