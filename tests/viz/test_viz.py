"""Pictures: valid PNG and GIF files of the expected size and content."""
import io

import numpy as np
import pytest
from PIL import Image

import autograd
from minigen.viz import (make_grid, grid_image, save_image, save_interpolation, save_gif,
                         save_bubbles, save_curves, save_scatter, progress)
from minigen.viz.plots import nice_ticks, log_ticks, PALETTE


def digits(n=10, size=28):
    x = np.zeros((n, 1, size, size), np.float32)
    for i in range(n):
        x[i, 0, 4:-4, 10:18] = (i + 1) / n            # a bar of brightness (i + 1) / n
    return x


def test_make_grid_places_image_i_at_row_i_div_nrow_column_i_mod_nrow():
    x = np.random.default_rng(0).random((7, 3, 5, 6)).astype(np.float32)
    grid = make_grid(x, nrow=3, padding=2, pad_value=1.0)
    assert grid.shape == (3, 3 * 7 + 2, 3 * 8 + 2)
    for i in range(7):
        top, left = 2 + (i // 3) * 7, 2 + (i % 3) * 8
        np.testing.assert_array_equal(grid[:, top:top + 5, left:left + 6], x[i])
    assert np.all(grid[:, :2] == 1) and np.all(grid[:, 16:, 18:] == 1)   # padding and empty cell


def test_small_grayscale_images_are_enlarged_by_nearest_to_a_png_of_known_size(tmp_path):
    save_image(digits(10), tmp_path / 'd.png', nrow=4)
    with Image.open(tmp_path / 'd.png') as im:
        assert im.format == 'PNG' and im.mode == 'RGB'
        assert im.size == (3 * (4 * 30 + 2), 3 * (3 * 30 + 2))       # 28 px -> x3 -> 84 px
        pixels = np.asarray(im)
    block = pixels[3 * (2 + 4): 3 * (2 + 24), 3 * (2 + 10): 3 * (2 + 18)]   # image 0's bar
    assert np.all(block == round(0.1 * 255))                          # crisp, no smoothing


def test_value_range_maps_onto_black_and_white_and_tensors_are_accepted():
    x = autograd.tensor(np.array([-1.0, 1.0], np.float32).reshape(2, 1, 1, 1)
                        * np.ones((2, 1, 4, 4), np.float32))
    pixels = np.asarray(grid_image(x, nrow=2, padding=0, value_range=(-1, 1), scale=1))
    assert np.all(pixels[:, :4] == 0) and np.all(pixels[:, 4:] == 255)


def test_captions_and_row_labels_add_drawn_text_around_the_grid():
    x = np.full((4, 3, 32, 32), 0.5, np.float32)
    plain = grid_image(x, nrow=2)
    captioned = grid_image(x, nrow=2, captions=['a large red circle in the top left'] * 4,
                           row_labels=['row one', 'row two'])
    assert captioned.width > plain.width and captioned.height > plain.height
    pixels = np.asarray(captioned)
    assert (pixels[:, :30] < 128).any()                  # label text in the left margin
    assert (pixels[70:90] < 128).any()                   # caption text under the first row
    with pytest.raises(ValueError, match='3 captions for 4 images'):
        grid_image(x, captions=['a'] * 3)
    with pytest.raises(ValueError, match='1 row_labels for 2 rows'):
        grid_image(x, nrow=2, row_labels=['a'])


@pytest.mark.parametrize('shape', [(2, 2, 8, 8), (2, 3, 8), (0, 3, 8, 8)])
def test_bad_image_shapes_are_errors_naming_the_shape(shape, tmp_path):
    shape_text = str(shape).replace('(', r'\(').replace(')', r'\)')
    with pytest.raises(ValueError, match=rf'save_image: expected images .*got shape {shape_text}'):
        save_image(np.zeros(shape, np.float32), tmp_path / 'x.png')


def test_interpolation_strips_are_rows_of_steps(tmp_path):
    ramp = np.linspace(0, 1, 5, dtype=np.float32)[None, :, None, None, None]
    strips = ramp * np.ones((3, 5, 3, 8, 8), np.float32)
    save_interpolation(strips, tmp_path / 's.png', scale=1)
    with Image.open(tmp_path / 's.png') as im:
        assert im.size == (5 * 10 + 2, 3 * 10 + 2)
        assert np.asarray(im)[2, 2 + 4 * 10, 0] == 255 and np.asarray(im)[2, 2, 0] == 0
    with pytest.raises(ValueError, match=r'\(R, K, C, H, W\)'):
        save_interpolation(strips[0], tmp_path / 's.png')


def test_trajectory_gif_has_one_frame_per_step_and_holds_the_last(tmp_path):
    ramp = np.linspace(0, 1, 6, dtype=np.float32)[:, None, None, None, None]
    frames = ramp * np.ones((6, 4, 3, 16, 16), np.float32)
    save_gif(frames, tmp_path / 't.gif', nrow=2, duration=50, hold_last=700,
             frame_labels=[f't = {t}' for t in range(6)])
    with Image.open(tmp_path / 't.gif') as im:
        assert im.format == 'GIF' and im.n_frames == 6
        assert im.size[0] == 4 * (2 * 18 + 2) and im.size[1] > 4 * (2 * 18 + 2)  # x4 + label
        durations = []
        for t in range(6):
            im.seek(t)
            durations.append(im.info['duration'])
        assert np.asarray(im.convert('RGB')).max() == 255
    assert durations[0] == 50 and durations[-1] == 700
    with pytest.raises(ValueError, match='2 frame_labels for 6 frames'):
        save_gif(frames, tmp_path / 't.gif', frame_labels=['a', 'b'])


def test_loss_curves_png_has_the_size_and_series_colours(tmp_path):
    steps = np.arange(200)
    series = {'train': np.exp(-steps / 50) + 0.01,
              'test': (steps[::20], np.exp(-steps[::20] / 40) + 0.02)}
    save_curves(series, tmp_path / 'loss.png', log_y=True, title='loss', size=(500, 300))
    with Image.open(tmp_path / 'loss.png') as im:
        assert im.format == 'PNG' and im.size == (500, 300)
        pixels = np.asarray(im.convert('RGB')).reshape(-1, 3).astype(int)
    for c in PALETTE[:2]:                                    # both series are drawn
        assert (np.abs(pixels - c).sum(1) < 30).sum() > 100


def test_loss_curves_reject_what_they_cannot_draw(tmp_path):
    with pytest.raises(ValueError, match="series 'a' has values <= 0"):
        save_curves({'a': [1.0, 0.0, 2.0]}, tmp_path / 'x.png', log_y=True)
    with pytest.raises(ValueError, match='non-empty dict'):
        save_curves({}, tmp_path / 'x.png')
    with pytest.raises(ValueError, match="series 'b' needs 1-D x and values of one length"):
        save_curves({'b': (np.arange(3), np.ones(4))}, tmp_path / 'x.png')
    save_curves({'nan': [float('nan'), 1.0, 2.0], 'one': [3.0]}, tmp_path / 'x.png')  # still drawn


def test_scatter_png_is_square_and_colours_points_by_label(tmp_path):
    x = np.random.default_rng(0).standard_normal((600, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    save_scatter(x, tmp_path / 's.png', labels=y, class_names=['left', 'right'], size=300)
    with Image.open(tmp_path / 's.png') as im:
        assert im.size == (300, 300)
        pixels = np.asarray(im.convert('RGB')).astype(int)
    for k in (0, 1):
        hits = np.argwhere(np.abs(pixels - PALETTE[k]).sum(2) < 30)
        assert len(hits) > 50
    with pytest.raises(ValueError, match=r'points of shape \(N, 2\)'):
        save_scatter(np.zeros((5, 3)), tmp_path / 's.png')
    with pytest.raises(ValueError, match=r'labels must be integers of shape \(5,\)'):
        save_scatter(np.zeros((5, 2)), tmp_path / 's.png', labels=np.zeros(4, int))


def test_bubbles_grow_with_their_radius_and_sit_where_their_point_is(tmp_path):
    points = np.array([[0.2, 0.8], [0.8, 0.2]])
    save_bubbles(points, [3, 12], ['slow', 'fast'], tmp_path / 'b.png', size=(400, 400))
    with Image.open(tmp_path / 'b.png') as im:
        pixels = np.asarray(im.convert('RGB')).astype(int)
    area = [np.argwhere(np.abs(pixels - PALETTE[k]).sum(2) < 30) for k in (0, 1)]
    assert 4 * len(area[0]) < len(area[1])                  # radius 12 against 3: ~16x the area
    (y0, x0), (y1, x1) = area[0].mean(0), area[1].mean(0)
    assert x0 < x1 and y0 < y1                             # (0.2, 0.8) is left of and above
    with pytest.raises(ValueError, match='save_bubbles: 2 points need as many radii'):
        save_bubbles(points, [3], ['a', 'b'], tmp_path / 'b.png')
    with pytest.raises(ValueError, match=r'save_bubbles: expected finite points'):
        save_bubbles(np.array([[np.nan, 0.0]]), [3], ['a'], tmp_path / 'b.png')


def test_ticks_are_round_numbers_inside_the_range():
    ticks, labels = nice_ticks(0.013, 0.87)
    step = ticks[1] - ticks[0]
    assert 4 <= len(ticks) <= 10 and np.isclose(step, 0.2) and labels == ['0.2', '0.4', '0.6', '0.8']
    assert ticks[0] >= 0.013 and ticks[-1] <= 0.87
    values = 10 ** log_ticks(np.log10(0.03), np.log10(2.5))[0]
    np.testing.assert_allclose(values, [0.05, 0.1, 0.2, 0.5, 1, 2])
    assert log_ticks(-4, 1)[1] == ['0.0001', '0.001', '0.01', '0.1', '1', '10']


def test_progress_bar_yields_the_items_and_shows_the_loss():
    out = io.StringIO()
    bar = progress(range(3), 'train', file=out)
    items = []
    for i in bar:
        items.append(i)
        bar.set_postfix(loss=f'{0.5 / (i + 1):.3f}')
    bar.close()
    assert items == [0, 1, 2] and 'train' in out.getvalue() and 'loss=0.167' in out.getvalue()
