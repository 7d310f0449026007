"""An image-text similarity matrix as a heat map, the figure of CLIP (Radford et al. 2021,
"Learning Transferable Visual Models From Natural Language Supervision", arXiv:2103.00020,
figure 1): cell (i, j) is cos(text_i, image_j), images across the top, texts down the left,
the true pairs (the diagonal) outlined in red.
"""
import numpy as np
from PIL import Image, ImageDraw


def save_similarity(images, captions, sim, path, scale=2):
    """images (n, C, H, W) in [0, 1], their n captions and sim (n, n) with sim[j, i] the
    cosine of image j and caption i, to a PNG: white (lowest) to dark blue (highest)."""
    images, sim = np.asarray(images, dtype=np.float32), np.asarray(sim, dtype=np.float64)
    n = len(images)
    if images.ndim != 4 or len(captions) != n or sim.shape != (n, n):
        raise ValueError(f"save_similarity: expected n images (n, C, H, W), n captions and "
                         f"sim (n, n), got {images.shape}, {len(captions)} and {sim.shape}")
    size = images.shape[-1] * scale
    label_w = 8 + max(len(c) for c in captions) * 6
    im = Image.new('RGB', (label_w + n * size + 10, size + n * size + 30), 'white')
    draw = ImageDraw.Draw(im)
    lo, hi = sim.min(), sim.max()
    for j in range(n):
        tile = (np.clip(images[j].transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8)
        tile = Image.fromarray(tile[..., 0] if tile.shape[-1] == 1 else tile).convert('RGB')
        im.paste(tile.resize((size, size), Image.NEAREST), (label_w + j * size, 0))
    for i in range(n):
        draw.text((4, size + i * size + size // 2 - 5), captions[i], fill='black')
        for j in range(n):
            v = (sim[j, i] - lo) / max(hi - lo, 1e-9)
            fill = tuple(int(255 - v * (255 - c)) for c in (20, 60, 160))
            box = [label_w + j * size, size + i * size, label_w + (j + 1) * size - 1,
                   size + (i + 1) * size - 1]
            draw.rectangle(box, fill=fill, outline='white' if i != j else 'red')
            draw.text((box[0] + 4, box[1] + size // 2 - 5), f'{sim[j, i]:.2f}',
                      fill='white' if v > 0.5 else 'black')
    draw.text((label_w, size + n * size + 8), 'rows: captions, columns: images, cell: cosine '
              '(red: the true pair)', fill='black')
    im.save(path)
