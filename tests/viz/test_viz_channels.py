import numpy as np
import pytest

from minigen import viz


def test_latent_channels_image_is_one_row_per_image_one_column_per_channel_plus_one(tmp_path):
    images = np.random.default_rng(0).random((3, 3, 16, 16)).astype(np.float32)
    latents = np.random.default_rng(1).standard_normal((3, 4, 4, 4))
    im = viz.latent_channels_image(images, latents, scale=1)
    assert im.size == (5 * 18 + 2, 3 * 18 + 2)  # make_grid's padding of 2
    viz.save_latent_channels(images, latents, tmp_path / 'latents.png')
    assert (tmp_path / 'latents.png').stat().st_size > 0


def test_latents_that_do_not_divide_the_images_are_refused():
    with pytest.raises(ValueError, match='latent_channels_image'):
        viz.latent_channels_image(np.zeros((2, 3, 16, 16)), np.zeros((2, 4, 5, 5)))
