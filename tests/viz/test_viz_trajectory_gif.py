"""viz.save_trajectory_gif: a diffusion sampler's trajectory as a GIF of x_t over x0_hat."""
import numpy as np
from PIL import Image

from minigen import viz


def test_a_frame_per_recorded_step_then_the_final_images(tmp_path):
    rng = np.random.default_rng(0)
    trajectory = [(t, rng.uniform(-1, 1, (5, 3, 8, 8)), rng.uniform(-1, 1, (5, 3, 8, 8)))
                  for t in (20, 10, 0)]
    final = rng.uniform(0, 1, (5, 3, 8, 8))
    path = tmp_path / 'reverse.gif'
    viz.save_trajectory_gif(trajectory, final, path, n=4, scale=1, duration=50)
    with Image.open(path) as im:
        assert im.n_frames == len(trajectory) + 1
        first = im.size
    narrow = tmp_path / 'narrow.gif'
    viz.save_trajectory_gif(trajectory, final, narrow, n=2, scale=1, duration=50)
    with Image.open(narrow) as im:
        assert im.size[0] < first[0]   # n images a row
