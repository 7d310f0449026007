"""A discrete code drawn beside its image: the token grid of a VQ-VAE (van den Oord,
Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning", arXiv:1711.00937),
one cell per token showing its code index on a light shade of that code's colour.
"""
import numpy as np
from PIL import Image, ImageDraw

from .grid import font
from .plots import color


def save_token_grid(image, tokens, path, cell=36):
    """One image (C, H, W) in [0, 1], enlarged to the grid's height, beside its token grid
    (h, w) of integer code indices, to a PNG."""
    tokens = np.asarray(tokens)
    image = np.asarray(image, dtype=np.float32)
    if tokens.ndim != 2 or image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"save_token_grid: expected an image (C, H, W) with C = 1 or 3 and "
                         f"tokens (h, w), got {image.shape} and {tokens.shape}")
    h, w = tokens.shape
    side = h * cell
    pic = (np.clip(image, 0, 1).transpose(1, 2, 0) * 255).astype(np.uint8)
    pic = Image.fromarray(pic[..., 0] if pic.shape[-1] == 1 else pic).convert('RGB')
    canvas = Image.new('RGB', (side + cell + w * cell, side), 'white')
    canvas.paste(pic.resize((side, side), Image.NEAREST), (0, 0))
    draw, fnt = ImageDraw.Draw(canvas), font(cell // 3)
    for i in range(h):
        for j in range(w):
            k = int(tokens[i, j])
            fill = tuple(int(c) for c in 255 - (255 - np.array(color(k))) * 0.45)
            x0, y0 = side + cell + j * cell, i * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=fill, outline='white')
            draw.text((x0 + cell // 2, y0 + cell // 2), str(k), fill='black', font=fnt,
                      anchor='mm')
    canvas.save(path)
