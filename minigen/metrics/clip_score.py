"""CLIP score: how well images match their captions, by a CLIP model's cosine.

Hessel, Holtzman, Forbes, Le Bras and Choi 2021, "CLIPScore: A Reference-free Evaluation
Metric for Image Captioning" (arXiv:2104.08718). For image embedding E_I and caption
embedding E_C of a CLIP model,

    CLIP-S(I, C) = w max(cos(E_I, E_C), 0),

averaged over the pairs. The paper takes w = 2.5; torchmetrics (and so most diffusion
papers) take w = 100, as here: clip_score = 100 mean_n max(cos(I_n, C_n), 0), in [0, 100].

The score is only as good as the CLIP model that computes it: minigen's is a small CLIP
trained on the `shapes` captions (demos/clip.py), not OpenAI's ViT-L/14, so its numbers
are not comparable with published ones. Compare real captions against shuffled ones.
"""
import numpy as np


def clip_score(images, captions, model, batch_size=256):
    """100 x mean max(cos(image_n, caption_n), 0) for N images (N, C, H, W) in the range
    the model was trained on and N captions (strings, needing `model.tokenizer`, or token
    ids (N, L)). `model` is a minigen.contrastive.clip.CLIP (anything with image_embeddings and
    text_embeddings returning normalised (N, D) arrays). Non-finite embeddings raise a
    ValueError."""
    n = len(images)
    if len(captions) != n or n == 0:
        raise ValueError(f"metrics.clip_score: need as many captions as images (and at least "
                         f"one), got {n} images and {len(captions)} captions")
    img = np.asarray(model.image_embeddings(images, batch_size), np.float64)
    txt = np.asarray(model.text_embeddings(captions, batch_size), np.float64)
    if not (np.isfinite(img).all() and np.isfinite(txt).all()):
        raise ValueError("metrics.clip_score: the model's image or text embeddings contain "
                         "NaN or inf")
    # re-normalise in float64: cos is then exact whatever the model's dtype
    img /= np.maximum(np.linalg.norm(img, axis=1, keepdims=True), 1e-12)
    txt /= np.maximum(np.linalg.norm(txt, axis=1, keepdims=True), 1e-12)
    cos = (img * txt).sum(1)
    return float(100.0 * np.maximum(cos, 0.0).mean())
