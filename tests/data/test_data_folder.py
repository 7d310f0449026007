"""Image folders: one class per sub-folder, centre-cropped and resized through Pillow."""
import numpy as np
import pytest
from PIL import Image

from minigen.data.folder import load_image_folder


def solid(path, color, size=(12, 9)):
    Image.new('RGB', size, color).save(path)


def test_classes_follow_sorted_sub_folders_and_colours_survive_resizing(tmp_path):
    for name in ('dog', 'cat'):
        (tmp_path / name).mkdir()
    solid(tmp_path / 'cat' / 'a.png', (255, 0, 0))
    solid(tmp_path / 'cat' / 'b.jpg', (0, 0, 255), size=(40, 30))
    Image.new('L', (5, 5), 128).save(tmp_path / 'cat' / 'c.bmp')   # grayscale becomes RGB
    solid(tmp_path / 'dog' / 'd.png', (0, 255, 0))
    (tmp_path / 'dog' / 'notes.txt').write_text('not an image')
    x, y, classes = load_image_folder(tmp_path, size=8)
    assert classes == ['cat', 'dog'] and list(y) == [0, 0, 0, 1]
    assert x.shape == (4, 3, 8, 8) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], np.array([1, 0, 0])[:, None, None] * np.ones((8, 8)), atol=1e-6)
    np.testing.assert_allclose(x[1].mean((1, 2)), [0, 0, 1], atol=0.02)   # JPEG is lossy
    np.testing.assert_allclose(x[2], 128 / 255, atol=1e-6)
    np.testing.assert_allclose(x[3, 1], 1, atol=1e-6)


def test_wide_image_is_centre_cropped_not_stretched(tmp_path):
    (tmp_path / 'only').mkdir()
    pixels = np.zeros((10, 40, 3), np.uint8)          # 40 wide: red | blue | blue | red quarters
    pixels[:, :10, 0] = pixels[:, 30:, 0] = 255
    pixels[:, 10:30, 2] = 255
    Image.fromarray(pixels).save(tmp_path / 'only' / 'wide.png')
    x, _, _ = load_image_folder(tmp_path, size=(10, 20))   # aspect 2:1: the middle 20 x 10
    assert np.allclose(x[0, 2, :, 2:-2], 1, atol=1e-6) and np.allclose(x[0, 0, :, 2:-2], 0, atol=1e-6)


def test_unreadable_image_names_the_file(tmp_path):
    (tmp_path / 'c').mkdir()
    (tmp_path / 'c' / 'broken.png').write_bytes(b'\x89PNG not really')
    with pytest.raises(ValueError, match='broken.png'):
        load_image_folder(tmp_path)


def test_empty_or_missing_folders_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='is not a folder'):
        load_image_folder(tmp_path / 'nope')
    (tmp_path / 'empty_class').mkdir()
    with pytest.raises(ValueError, match=r"no images .* \(found class folders \['empty_class'\]"):
        load_image_folder(tmp_path)
    with pytest.raises(ValueError, match='size must be'):
        load_image_folder(tmp_path, size=(0, 4))
