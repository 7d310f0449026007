"""CLIP: a joint embedding space for images and texts, learned from matching pairs.

Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
Supervision" (arXiv:2103.00020), Sec. 2.3 and Fig. 3. An image encoder and a text
encoder, each followed by a linear projection, give embeddings that are L2-normalized:

    I_n = normalize(W_i f_img(image_n)),   T_n = normalize(W_t f_txt(text_n)).

For a batch of N pairs the logits are the scaled cosine similarities

    logits_per_image = exp(t) I T^T  (N x N),   logits_per_text = its transpose,

with t = logit_scale a learned log-temperature initialised at ln(1/0.07) (exp(t) = 14.3)
and clamped to [0, ln 100] after every optimiser step (open_clip's training loop; the
paper: "clipped to prevent scaling the logits by more than 100"). The matching pair of
row n is column n, so the loss is the symmetric cross entropy

    L = ( CE(logits_per_image, arange(N)) + CE(logits_per_text, arange(N)) ) / 2 .

Zero-shot classification (Sec. 3.1.2, 3.1.4): each class name is put into prompt
templates ("a photo of a {}."), the normalised text embeddings are averaged over the
templates and re-normalised (prompt ensembling), and an image gets the class of largest
100 I W^T. Retrieval recall@k: the share of queries whose match ranks among the k most
similar items of the other modality.
"""
import math

import numpy as np

import autograd
import minigen.nn as nn
import minigen.nn.functional as F

from .encoders import l2_normalize

LOGIT_SCALE_INIT = math.log(1 / 0.07)
LOGIT_SCALE_MAX = math.log(100.0)


def clip_loss(logits_per_image, logits_per_text=None):
    """Symmetric cross entropy of an (N, N) logit matrix whose diagonal holds the pairs."""
    if logits_per_image.ndim != 2 or logits_per_image.shape[0] != logits_per_image.shape[1]:
        raise ValueError(f"clip.clip_loss: expected square (N, N) logits, got "
                         f"{logits_per_image.shape}")
    if logits_per_text is None:
        logits_per_text = logits_per_image.T
    xp = autograd.backend.array_module(logits_per_image.data)
    labels = xp.arange(logits_per_image.shape[0])
    return (F.cross_entropy(logits_per_image, labels)
            + F.cross_entropy(logits_per_text, labels)) / 2


class CLIP(nn.Module):
    """image_encoder (images -> (N, d_img)) and text_encoder (ids -> (N, d_txt)), each
    projected linearly to `embed_dim`. forward(images, ids) -> (logits_per_image,
    logits_per_text). An optional `tokenizer` lets the model embed raw strings."""

    def __init__(self, image_encoder, text_encoder, embed_dim=64, tokenizer=None):
        super().__init__()
        self.image_encoder, self.text_encoder = image_encoder, text_encoder
        self.embed_dim, self.tokenizer = embed_dim, tokenizer
        d_img, d_txt = image_encoder.feature_dim, text_encoder.feature_dim
        self.image_projection = nn.Parameter(autograd.randn(d_img, embed_dim) * d_img ** -0.5)
        self.text_projection = nn.Parameter(autograd.randn(d_txt, embed_dim) * d_txt ** -0.5)
        self.logit_scale = nn.Parameter(autograd.tensor(np.array(LOGIT_SCALE_INIT, np.float32)))

    def _ids(self, texts):
        if isinstance(texts, (str, list, tuple)):
            if self.tokenizer is None:
                raise ValueError("clip.CLIP: got strings but the model has no tokenizer; "
                                 "pass token ids or build CLIP(..., tokenizer=Tokenizer())")
            return self.tokenizer.encode(texts)
        return texts

    def encode_image(self, images, normalize=True):
        e = self.image_encoder(images) @ self.image_projection
        return l2_normalize(e) if normalize else e

    def encode_text(self, texts, normalize=True):
        e = self.text_encoder(self._ids(texts)) @ self.text_projection
        return l2_normalize(e) if normalize else e

    def forward(self, images, texts):
        image_emb, text_emb = self.encode_image(images), self.encode_text(texts)
        logits_per_image = self.logit_scale.exp() * (image_emb @ text_emb.T)
        return logits_per_image, logits_per_image.T

    def loss(self, images, texts):
        return clip_loss(*self(images, texts))

    def clamp_logit_scale(self):
        """t <- clip(t, 0, ln 100), in place: call after every optimiser step."""
        xp = autograd.backend.array_module(self.logit_scale.data)
        self.logit_scale.data[...] = xp.clip(self.logit_scale.data, 0.0, LOGIT_SCALE_MAX)

    # --- frozen embeddings as NumPy arrays, in batches -----------------------------------
    def _embed(self, fn, items, batch_size):
        out = []
        with autograd.no_grad():
            for i in range(0, len(items), batch_size):
                out.append(fn(items[i:i + batch_size]).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.embed_dim), np.float32)

    def image_embeddings(self, images, batch_size=256):
        device = self.logit_scale.device
        return self._embed(lambda x: self.encode_image(autograd.tensor(np.asarray(x),
                                                                       device=device)),
                           images, batch_size)

    def text_embeddings(self, texts, batch_size=256):
        ids = self._ids(list(texts) if isinstance(texts, tuple) else texts)
        return self._embed(self.encode_text, ids, batch_size)


def zero_shot_classifier(model, classnames, templates=('a photo of a {}.',)):
    """(C, D) class embeddings: mean over the templates of the normalised text embeddings
    of template.format(name), re-normalised (Sec. 3.1.4, prompt ensembling)."""
    weights = []
    for name in classnames:
        e = model.text_embeddings([t.format(name) for t in templates])
        e = e.mean(0)
        weights.append(e / max(np.linalg.norm(e), 1e-12))
    return np.stack(weights)


def zero_shot_predict(image_emb, class_weights):
    """Class index and softmax(100 I W^T) probabilities for normalised image embeddings."""
    logits = 100.0 * np.asarray(image_emb, np.float64) @ np.asarray(class_weights, np.float64).T
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    return p.argmax(1), p


def retrieval_recall(image_emb, text_emb, ks=(1, 5, 10), image_keys=None, text_keys=None):
    """Image->text and text->image recall@k for N paired, normalised embeddings (row n of
    each is a pair). A retrieved item counts as a match when its key equals the query's
    (default keys: the pair index; give e.g. the captions to accept identical texts).
    Returns {'i2t@k': ..., 't2i@k': ...}."""
    image_emb, text_emb = np.asarray(image_emb), np.asarray(text_emb)
    if image_emb.shape != text_emb.shape or image_emb.ndim != 2:
        raise ValueError(f"clip.retrieval_recall: expected paired (N, D) embeddings, got "
                         f"{image_emb.shape} and {text_emb.shape}")
    n = len(image_emb)
    if image_keys is None:
        image_keys = np.arange(n)
    if text_keys is None:
        text_keys = image_keys
    codes = np.unique(np.concatenate([np.asarray(image_keys), np.asarray(text_keys)]),
                      return_inverse=True)[1].ravel()
    keys_i, keys_t = codes[:n], codes[n:]
    sim = image_emb.astype(np.float64) @ text_emb.astype(np.float64).T   # (N images, N texts)
    out = {}
    for name, s, q_keys, r_keys in (('i2t', sim, keys_i, keys_t), ('t2i', sim.T, keys_t, keys_i)):
        order = np.argsort(-s, axis=1, kind='stable')                     # best first
        hit = r_keys[order] == q_keys[:, None]                             # (N, N) matches
        first = np.where(hit.any(1), hit.argmax(1), n)                     # rank of 1st match
        for k in ks:
            out[f'{name}@{k}'] = float((first < k).mean())
    return out
