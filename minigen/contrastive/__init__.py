"""minigen.contrastive: representations learned by telling matching pairs from the rest.

Read in this order:
    encoders.py  a small ResNet image encoder, CLIP's Transformer text encoder, projection heads
    simclr.py    SimCLR: two augmented views, the NT-Xent loss (Chen et al. 2020)
    spectral.py  the spectral contrastive loss, SimCLR's other loss (HaoChen et al. 2021)
    clip.py      CLIP: the symmetric image-text loss, zero-shot classification, retrieval
                 (Radford et al. 2021)
    vit.py       the Vision Transformer: patches as tokens, a class token (Dosovitskiy et al.
                 2020); an image tower for CLIP and DINO
    dino.py      DINO: a student predicts its EMA teacher across multi-crop views, centring
                 and sharpening against collapse (Caron et al. 2021); DINOv2's KoLeo term
Frozen features are scored by minigen.metrics.probe (linear probe, k-NN).
"""
from .encoders import ResNetEncoder, TextTransformer, ProjectionHead, l2_normalize  # noqa: F401
from .simclr import SimCLR, nt_xent  # noqa: F401
from .spectral import spectral_contrastive_loss  # noqa: F401
from .clip import (CLIP, clip_loss, zero_shot_classifier, zero_shot_predict,  # noqa: F401
                   retrieval_recall)
from .vit import ViT  # noqa: F401
from .dino import (DINO, DINOHead, WeightNormLinear, dino_loss, koleo_loss,  # noqa: F401
                   teacher_momentum)
