"""CLIP on the shapes captions: one embedding space for images and the texts that describe them.

Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
Supervision" (arXiv:2103.00020). A small ResNet embeds images, a small causal Transformer
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

    python -m demos.clip [--preset quick|full] [--steps N] [--batch-size B]
        [--device cpu|cuda] [--seed S] [--out out/clip] [--resume]

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
from PIL import Image, ImageDraw

import autograd
import minigen
from minigen import viz
from minigen.data.shapes import COLORS, SHAPES, VOCAB, caption, make_shapes
from minigen.data.tokenizer import Tokenizer
from minigen.metrics.clip_score import clip_score
from minigen.contrastive.clip import CLIP, retrieval_recall, zero_shot_predict
from minigen.contrastive.encoders import ResNetEncoder, TextTransformer
from minigen.optim import Adam

from demos.conventions import add_run_arguments, write_metrics

PRESETS = {'quick': dict(steps=300, batch_size=128, widths=(32, 64, 128), stem_stride=2,
                         text_width=64, text_layers=2, n_train=20000, n_test=1000),
           'full': dict(steps=3000, batch_size=256, widths=(32, 64, 128), stem_stride=1,
                        text_width=128, text_layers=3, n_train=50000, n_test=2000)}
LR, EMBED_DIM = 1e-3, 64
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


def draw_similarity(images, captions, sim, path, scale=2):
    """A heat map of cos(image_i, caption_j) with the images on top and captions on the left."""
    n, size = len(images), images.shape[-1] * scale
    label_w = 8 + max(len(c) for c in captions) * 6
    im = Image.new('RGB', (label_w + n * size + 10, size + n * size + 30), 'white')
    draw = ImageDraw.Draw(im)
    lo, hi = sim.min(), sim.max()
    for j in range(n):
        tile = (np.clip(images[j].transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8)
        im.paste(Image.fromarray(tile).resize((size, size), Image.NEAREST), (label_w + j * size, 0))
    for i in range(n):
        draw.text((4, size + i * size + size // 2 - 5), captions[i], fill='black')
        for j in range(n):
            v = (sim[j, i] - lo) / max(hi - lo, 1e-9)       # white (low) -> dark blue (high)
            fill = tuple(int(255 - v * (255 - c)) for c in (20, 60, 160))
            box = [label_w + j * size, size + i * size, label_w + (j + 1) * size - 1,
                   size + (i + 1) * size - 1]
            draw.rectangle(box, fill=fill, outline='white' if i != j else 'red')
            draw.text((box[0] + 4, box[1] + size // 2 - 5), f'{sim[j, i]:.2f}',
                      fill='white' if v > 0.5 else 'black')
    draw.text((label_w, size + n * size + 8), 'rows: captions, columns: images, cell: cosine '
              '(red: the true pair)', fill='black')
    im.save(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', choices=PRESETS, default='quick')
    ap.add_argument('--steps', type=int, help='training steps in this run (preset default)')
    ap.add_argument('--batch-size', type=int, help='image-caption pairs per step')
    ap.add_argument('--n-train', type=int, help='training pairs')
    ap.add_argument('--n-test', type=int, help='test pairs')
    ap.add_argument('--widths', type=int, nargs='+', help='ResNet stage widths')
    ap.add_argument('--text-width', type=int)
    add_run_arguments(ap, 'clip')
    args = ap.parse_args(argv)
    p = PRESETS[args.preset]
    steps = p['steps'] if args.steps is None else args.steps   # 0: evaluate only
    batch_size = args.batch_size or p['batch_size']
    n_train, n_test = args.n_train or p['n_train'], args.n_test or p['n_test']
    widths, text_width = tuple(args.widths or p['widths']), args.text_width or p['text_width']
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, 'checkpoint.npz')

    train = make_shapes(n_train, size=32, seed=args.seed)
    keep = ~held_out_mask(train.attrs)               # drop the held-out (shape, colour) pairs
    x_train = train.images[keep]
    captions_train = [c for c, k in zip(train.captions, keep) if k]
    test = make_shapes(n_test, size=32, seed=args.seed + 1)
    tok = Tokenizer()
    ids_train = tok.encode(captions_train)

    autograd.manual_seed(args.seed)
    image_encoder = ResNetEncoder(3, widths=widths, stem_stride=p['stem_stride'])
    text_encoder = TextTransformer(tok.vocab_size, tok.context_length, width=text_width,
                                   layers=p['text_layers'], heads=4, eot_token=tok.eot)
    model = CLIP(image_encoder, text_encoder, embed_dim=EMBED_DIM, tokenizer=tok).to(args.device)
    opt = Adam(model.parameters(), lr=LR)
    start_step, losses, scales, seconds_before = 0, [], [], 0.0
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise FileNotFoundError(f"clip --resume: no checkpoint at {ckpt_path}; run once "
                                    f"without --resume first")
        ckpt = minigen.load(ckpt_path)
        if tuple(ckpt['widths']) != widths or int(ckpt['text_width']) != text_width:
            raise ValueError(f"clip --resume: {ckpt_path} holds a model of widths "
                             f"{ckpt['widths']}, text width {ckpt['text_width']}; this run asks "
                             f"for {widths}, {text_width}")
        model.load_state_dict(ckpt['model'])
        opt.load_state_dict(ckpt['optimizer'])
        start_step, losses, scales = int(ckpt['step']), list(ckpt['losses']), list(ckpt['scales'])
        seconds_before = float(ckpt['train_seconds'])

    start = time.time()
    bar = viz.progress(range(start_step, start_step + steps), 'train')
    for step in bar:
        rng = np.random.default_rng([args.seed, step])   # per-step stream: exact resume
        idx = rng.choice(len(x_train), batch_size, replace=False)
        loss = model.loss(autograd.tensor(x_train[idx], device=args.device), ids_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.clamp_logit_scale()                        # t <- clip(t, 0, ln 100)
        losses.append(loss.item())
        scales.append(math.exp(model.logit_scale.item()))
        if step % 10 == 0:
            bar.set_postfix(loss=f'{np.mean(losses[-10:]):.3f}', scale=f'{scales[-1]:.1f}')
    train_seconds = time.time() - start + seconds_before   # over all resumed runs
    step = start_step + steps
    minigen.save({'model': model.state_dict(), 'optimizer': opt.state_dict(), 'step': step,
                  'train_seconds': train_seconds, 'losses': np.array(losses),
                  'scales': np.array(scales),
                  'widths': list(widths), 'text_width': text_width}, ckpt_path)

    smooth = np.convolve(losses, np.ones(20) / 20, mode='valid') if len(losses) >= 20 else None
    viz.save_curves({'CLIP loss': losses} | ({'mean of 20': (np.arange(19, len(losses)), smooth)}
                                             if smooth is not None else {}),
                    os.path.join(args.out, 'loss.png'),
                    title=f'CLIP on shapes captions (batch {batch_size}; chance '
                          f'ln {batch_size} = {math.log(batch_size):.2f})')

    start = time.time()
    img = model.image_embeddings(test.images)
    txt = model.text_embeddings(test.captions)
    # similarity matrix of 8 test pairs with distinct captions
    first = sorted({c: i for i, c in reversed(list(enumerate(test.captions)))}.values())[:8]
    draw_similarity(test.images[first], [test.captions[i] for i in first],
                    img[first] @ txt[first].T, os.path.join(args.out, 'similarity.png'))

    all_emb = model.text_embeddings(ALL_CAPTIONS)
    correct = zero_shot(all_emb, img, test.attrs)
    held = held_out_mask(test.attrs)
    # the whole caption at once: which of all 720 single-object captions fits best
    best = (img @ all_emb.T).argmax(1)
    exact = np.array([ALL_CAPTIONS[b] == c for b, c in zip(best, test.captions)])
    by_caption = {k: ALL_COMBOS[best, a] == test.attrs[k] for a, k in enumerate(VOCAB)}
    viz.save_image(test.images[:16], os.path.join(args.out, 'zero_shot.png'), nrow=4, scale=3,
                   captions=[('ok: ' if exact[i] else 'x: ') + ALL_CAPTIONS[best[i]]
                             for i in range(16)])

    recall = retrieval_recall(img, txt, ks=(1, 5, 10), image_keys=test.captions)
    recall_strict = retrieval_recall(img[:100], txt[:100], ks=(1, 5, 10))
    shuffled = list(np.random.default_rng(args.seed).permutation(test.captions))
    score_real = clip_score(test.images, test.captions, model)
    score_shuffled = clip_score(test.images, shuffled, model)
    eval_seconds = time.time() - start

    metrics = {'settings': vars(args) | {'steps': steps, 'batch_size': batch_size,
                                         'n_train_pairs': int(keep.sum()), 'n_test': n_test,
                                         'widths': list(widths), 'text_width': text_width,
                                         'text_layers': p['text_layers'],
                                         'stem_stride': p['stem_stride'], 'lr': LR,
                                         'embed_dim': EMBED_DIM,
                                         'held_out_shape_color': [f'{COLORS[c]} {SHAPES[s]}'
                                                                  for s, c in HELD_OUT]},
               'step': step, 'train_seconds': round(train_seconds, 2),
               'eval_seconds': round(eval_seconds, 2),
               'first_loss': float(np.mean(losses[:10])), 'final_loss': float(np.mean(losses[-20:])),
               'logit_scale_exp': scales[-1],
               'zero_shot_accuracy': {k: float(v.mean()) for k, v in correct.items()},
               'zero_shot_accuracy_held_out_pairs': {k: float(v[held].mean()) for k, v in
                                                     correct.items()} if held.any() else None,
               'zero_shot_accuracy_best_caption': {k: float(v.mean()) for k, v in
                                                   by_caption.items()},
               'zero_shot_accuracy_best_caption_held_out_pairs': {
                   k: float(v[held].mean()) for k, v in by_caption.items()} if held.any() else None,
               'chance': {k: 1 / len(v) for k, v in VOCAB.items()},
               'zero_shot_exact_caption_of_720': float(exact.mean()),
               'retrieval_recall_same_caption': recall,
               'retrieval_recall_strict_100_pairs': recall_strict,
               'clip_score_real': score_real, 'clip_score_shuffled': score_shuffled,
               'n_test_held_out_pairs': int(held.sum())}
    return write_metrics(args.out, metrics)


if __name__ == '__main__':
    main()
