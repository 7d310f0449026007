"""DALL-E 1: a caption's image drawn token by token over a dVAE's codebook, reranked by CLIP.

Ramesh et al. 2021, "Zero-Shot Text-to-Image Generation" (arXiv:2102.12092), Sec. 2.2-2.5.
A caption's text tokens y_1..y_n and the dVAE's image tokens z_1..z_m (its h x w grid in
raster order, minigen/autoregressive/dvae.py) are one sequence, modelled by one decoder-only
Transformer (minigen/autoregressive/gpt.py) over a shared vocabulary: the text ids first,
then the K image codes shifted past them (token z is id n_text + z),

    s = [y_1 .. y_n, z_1 .. z_m],   p(s) = prod_t p(s_t | s_<t),

trained with the next-token cross-entropy of the text and of the image positions, the image
weighted more (the paper: 1/8 and 7/8; Sec. 2.2),

    L = 1/8 CE_text + 7/8 CE_image,   CE_text = mean_{t=2..n} -log p(y_t | y_<t),
                                      CE_image = mean_{j=1..m} -log p(z_j | y, z_<j).

Generation feeds the caption, then draws z_1..z_m one at a time from the image codes only
(temperature, top-k: gpt.sample_token) and decodes the grid with the dVAE's decoder.
Reranking (Sec. 2.5): draw k candidates per caption and keep the one a CLIP model
(minigen/contrastive/clip.py) scores highest, the cosine of its image and text embeddings,

    best = argmax_i  cos(f_img(x_i), f_txt(caption)),   i = 1..k.
"""
import numpy as np

import autograd
import minigen.nn as nn
import minigen.nn.functional as F
from .gpt import GPT, sample_token


class DALLE(nn.Module):
    """Text ids (B, n_text_tokens) over a vocabulary of `text_vocab` and image token grids
    (B, m) over `num_codes` codes, as one sequence in a GPT of width d_model."""

    def __init__(self, text_vocab, text_len, num_codes, image_len, d_model=128, n_layers=4,
                 n_heads=4, image_weight=7 / 8):
        super().__init__()
        self.text_vocab, self.text_len = text_vocab, text_len
        self.num_codes, self.image_len, self.image_weight = num_codes, image_len, image_weight
        self.gpt = GPT(text_vocab + num_codes, text_len + image_len, d_model, n_layers, n_heads)

    def sequence(self, text_ids, image_ids):
        """s = [y; n_text + z]: (B, text_len + image_len) int ids of the shared vocabulary."""
        text_ids, image_ids = np.asarray(text_ids), np.asarray(image_ids).reshape(len(text_ids), -1)
        if text_ids.shape[1] != self.text_len or image_ids.shape[1] != self.image_len:
            raise ValueError(f"dalle.DALLE: expected {self.text_len} text and {self.image_len} "
                             f"image tokens, got {text_ids.shape[1]} and {image_ids.shape[1]}")
        if text_ids.min() < 0 or text_ids.max() >= self.text_vocab or image_ids.min() < 0 \
                or image_ids.max() >= self.num_codes:
            raise ValueError(f"dalle.DALLE: text ids must lie in [0, {self.text_vocab}) and "
                             f"image codes in [0, {self.num_codes})")
        return np.concatenate([text_ids, image_ids + self.text_vocab], axis=1)

    def loss(self, text_ids, image_ids):
        """Dict: loss = (1 - w) CE_text + w CE_image (w = image_weight), and both parts."""
        s = self.sequence(text_ids, image_ids)
        logits = self.gpt(s[:, :-1])                          # position t predicts s_{t+1}
        n, V = self.text_len, self.gpt.vocab_size
        text = F.cross_entropy(logits[:, :n - 1].reshape(-1, V),
                               s[:, 1:n].reshape(-1))           # y_2..y_n
        image = F.cross_entropy(logits[:, n - 1:].reshape(-1, V),
                                s[:, n:].reshape(-1))           # z_1..z_m
        w = self.image_weight
        return {'loss': (1 - w) * text + w * image, 'text': text, 'image': image}

    def generate(self, text_ids, temperature=1.0, top_k=None):
        """Image tokens (B, image_len) drawn one by one after the captions `text_ids`, from
        the image codes' logits only, under no_grad (the engine's CPU RNG); the GPT runs one
        position at a time on its cache (GPT.step)."""
        s = np.array(text_ids, dtype=np.int64)
        if s.ndim != 2 or s.shape[1] != self.text_len:
            raise ValueError(f"dalle.DALLE.generate: expected text ids (B, {self.text_len}), "
                             f"got {s.shape}")
        cache = [[] for _ in self.gpt.blocks]
        with autograd.no_grad():
            for t in range(self.text_len + self.image_len - 1):      # one position at a time
                logits = self.gpt.step(s[:, t], cache)
                if t + 1 < self.text_len:
                    continue                                          # the caption is given
                logits = logits.numpy()[:, self.text_vocab:].astype(np.float64)
                z = sample_token(logits, temperature, top_k)
                s = np.concatenate([s, z[:, None] + self.text_vocab], axis=1)
        return s[:, self.text_len:] - self.text_vocab


def draw_candidates(dalle, dvae, text_ids, k, temperature=1.0, top_k=None, batch=256):
    """k candidates per caption: token grids (n, k, h, w) and the dVAE's decoded images
    (n, k, C, H, W) in [0, 1], NumPy."""
    h, w = dvae.grid
    if h * w != dalle.image_len or dvae.num_codes != dalle.num_codes:
        raise ValueError(f"dalle.draw_candidates: the transformer draws {dalle.image_len} image "
                         f"tokens, the dVAE decodes {h}x{w}; codes: {dalle.num_codes} and "
                         f"{dvae.num_codes}")
    ids = np.repeat(np.asarray(text_ids), k, axis=0)
    tokens = np.concatenate([dalle.generate(ids[i:i + batch], temperature, top_k)
                             for i in range(0, len(ids), batch)])
    tokens = tokens.reshape(len(ids), *dvae.grid)
    with autograd.no_grad():
        images = np.concatenate([dvae.decode(tokens[i:i + batch]).numpy()
                                 for i in range(0, len(ids), batch)])
    n = len(text_ids)
    return tokens.reshape(n, k, *dvae.grid), images.reshape(n, k, *images.shape[1:])


def rerank(clip, images, captions):
    """The candidate of each caption CLIP scores highest: images (n, k, C, H, W), n captions
    -> (best (n,) indices, scores (n, k) cosines)."""
    n, k = images.shape[:2]
    if len(captions) != n:
        raise ValueError(f"dalle.rerank: {n} rows of candidates but {len(captions)} captions")
    image_emb = clip.image_embeddings(images.reshape(n * k, *images.shape[2:])).reshape(n, k, -1)
    text_emb = clip.text_embeddings(list(captions))
    scores = np.einsum('nkd,nd->nk', image_emb, text_emb)     # both L2-normalised: cosines
    return scores.argmax(1), scores
