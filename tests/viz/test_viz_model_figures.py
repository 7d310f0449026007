"""minigen.viz's model figures: a VQ-VAE token grid beside its image, a CLIP similarity
heat map, and scatter plots side by side."""
import numpy as np
import pytest
from PIL import Image

from minigen.viz import save_scatter_panels, save_similarity, save_token_grid
from minigen.viz.plots import color


def test_token_grid_shows_the_image_then_one_shaded_cell_per_token(tmp_path):
    image = np.zeros((1, 28, 28), np.float32)
    image[:, :14] = 1.0                                     # top half white
    tokens = np.arange(49).reshape(7, 7) % 5
    save_token_grid(image, tokens, tmp_path / 't.png', cell=20)
    with Image.open(tmp_path / 't.png') as im:
        im = im.convert('RGB')
        assert im.size == (7 * 20 + 20 + 7 * 20, 7 * 20)
        assert im.getpixel((5, 5)) == (255, 255, 255) and im.getpixel((5, 135)) == (0, 0, 0)
        # token (2, 3) = 17 % 5 = 2: a light shade of code 2's colour, near the cell's corner
        shade = tuple(int(c) for c in 255 - (255 - np.array(color(2))) * 0.45)
        assert im.getpixel((160 + 3 * 20 + 2, 2 * 20 + 2)) == shade


def test_token_grid_refuses_what_it_cannot_draw(tmp_path):
    with pytest.raises(ValueError, match='save_token_grid'):
        save_token_grid(np.zeros((28, 28)), np.zeros((7, 7), int), tmp_path / 'x.png')
    with pytest.raises(ValueError, match='save_token_grid'):
        save_token_grid(np.zeros((1, 28, 28)), np.zeros(49, int), tmp_path / 'x.png')


def test_similarity_heat_map_has_a_cell_per_pair_and_marks_the_true_pairs(tmp_path):
    n, scale = 3, 2
    images = np.random.default_rng(0).random((n, 3, 32, 32)).astype(np.float32)
    sim = np.eye(n) * 0.9 + 0.05
    captions = ['a red circle', 'a blue square', 'a small green triangle']
    save_similarity(images, captions, sim, tmp_path / 's.png', scale=scale)
    size = 32 * scale
    label_w = 8 + max(map(len, captions)) * 6
    with Image.open(tmp_path / 's.png') as im:
        im = im.convert('RGB')
        assert im.size == (label_w + n * size + 10, size + n * size + 30)
        assert im.getpixel((label_w, size)) == (255, 0, 0)                  # true pair: red
        assert im.getpixel((label_w + size, size)) == (255, 255, 255)       # others: white
        assert im.getpixel((label_w + 2 * size - 4, 2 * size - 4)) == (255, 255, 255)  # lowest
        assert im.getpixel((label_w + 2, size + 2)) == (20, 60, 160)         # highest: dark blue
    with pytest.raises(ValueError, match='save_similarity'):
        save_similarity(images, captions[:2], sim, tmp_path / 'x.png')


def test_scatter_panels_sit_side_by_side(tmp_path):
    rng = np.random.default_rng(0)
    points, labels = rng.normal(size=(50, 2)), rng.integers(0, 3, 50)
    save_scatter_panels([(points, 'trained'), (points * 2, 'random')], tmp_path / 'p.png',
                        labels=labels, class_names=['a', 'b', 'c'])
    with Image.open(tmp_path / 'p.png') as im:
        assert im.format == 'PNG' and im.size == (2 * 480, 480)
        left, right = np.asarray(im.convert('RGB')).reshape(480, 2, 480, 3).transpose(1, 0, 2, 3)
        assert (left != 255).any() and (right != 255).any()
    with pytest.raises(ValueError, match='save_scatter_panels'):
        save_scatter_panels([], tmp_path / 'x.png')
