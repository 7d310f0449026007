"""viz.figure_pil and viz.stacked_image: one figure array as a Pillow image, rows stacked."""
import numpy as np
from PIL import Image

from minigen import viz


def test_figure_pil_keeps_every_pixel():
    image = np.random.default_rng(0).uniform(0, 1, (1, 3, 5, 7))
    im = viz.figure_pil(image)
    assert im.size == (7, 5)
    np.testing.assert_array_equal(np.asarray(im), np.round(image[0].transpose(1, 2, 0) * 255))


def test_stacked_image_is_as_wide_as_the_widest_row_with_gaps_between():
    rows = [Image.new('RGB', (30, 10), 'red'), Image.new('RGB', (50, 20), 'blue')]
    im = viz.stacked_image(rows, gap=4)
    assert im.size == (50, 10 + 4 + 20)
    assert im.getpixel((0, 0)) == (255, 0, 0) and im.getpixel((0, 14)) == (0, 0, 255)
    assert im.getpixel((40, 5)) == (255, 255, 255)   # beside the narrow row: white
