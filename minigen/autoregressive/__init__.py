"""minigen.autoregressive: models that generate one element at a time, p(x) = prod_i
p(x_i | x_<i), each with an exact log-likelihood.

Read in this order:
    masked_conv.py  masked convolutions, type A and B: pixel i reads pixels before it
    pixelcnn.py     the gated PixelCNN: vertical and horizontal stacks (no blind spot), gated
                    units, class conditioning, Bernoulli or 256-way output, pixel-by-pixel
                    sampling and completion (van den Oord et al. 2016)
    gpt.py          a decoder-only Transformer over tokens: next-token cross-entropy, sampling
                    with temperature, top-k and top-p (Radford et al. 2018, 2019)
    dvae.py         DALL-E's discrete VAE: a categorical posterior over K codes per grid
                    position, relaxed by Gumbel-softmax with an annealed temperature, KL to
                    the uniform prior, codebook perplexity (Ramesh et al. 2021)
    dalle.py        DALL-E 1: [caption; image tokens] as one GPT sequence (image weighted
                    7/8), image tokens drawn one by one, k candidates reranked by CLIP
"""
from .masked_conv import MaskedConv2d, raster_mask  # noqa: F401
from .pixelcnn import (GatedPixelCNN, GatedLayer, binarize, bits_per_dim, gate,  # noqa: F401
                       shift_down)
from .gpt import GPT, sample_token, top_k_filter, top_p_filter  # noqa: F401
from .dvae import DiscreteVAE, perplexity, temperature  # noqa: F401
from .dalle import DALLE, draw_candidates, rerank  # noqa: F401
