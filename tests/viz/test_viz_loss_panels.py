"""viz.curves_plot and viz.save_loss_panels: a plot as an image, several losses side by side."""
import numpy as np
from PIL import Image

from minigen import viz


def test_curves_plot_is_the_picture_save_curves_writes(tmp_path):
    series = {'loss': np.linspace(2, 1, 30)}
    viz.save_curves(series, tmp_path / 'c.png', size=(200, 150))
    with Image.open(tmp_path / 'c.png') as saved:
        np.testing.assert_array_equal(np.asarray(saved.convert('RGB')),
                                      np.asarray(viz.curves_plot(series, size=(200, 150))))


def test_a_panel_per_run_even_one_shorter_than_the_window(tmp_path):
    histories = {'a': list(np.linspace(3, 1, 50)), 'b': [1.0, 0.5, 0.25]}
    viz.save_loss_panels(histories, ['a: CD loss', 'b: DSM loss'], tmp_path / 'loss.png',
                         window=20, size=(120, 90))
    with Image.open(tmp_path / 'loss.png') as im:
        assert im.width >= 2 * 120 and im.height > 90   # two panels, titles above
