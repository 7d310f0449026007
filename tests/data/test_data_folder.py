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


@pytest.mark.parametrize('mode', ['I;16', 'I', 'F'])
def test_high_bit_depth_grayscale_is_scaled_to_0_1_by_its_own_range(tmp_path, mode):
    """16-bit PNGs open as I;16 and 32-bit TIFFs as I or F: Pillow's convert('RGB') clips
    them at 255, which made almost every pixel 1.0."""
    (tmp_path / 'c').mkdir()
    level = np.linspace(0, 1, 8)[None, :].repeat(8, 0)                 # 0 .. 1 left to right
    if mode == 'F':
        Image.fromarray(level.astype(np.float32), 'F').save(tmp_path / 'c' / 'x.tif')
    else:
        pixels = np.round(level * 65535)
        im = Image.fromarray(pixels.astype(np.uint16 if mode == 'I;16' else np.int32))
        assert im.mode == mode
        im.save(tmp_path / 'c' / ('x.png' if mode == 'I;16' else 'x.tif'))
    x, _, _ = load_image_folder(tmp_path, size=8)
    assert x.shape == (1, 3, 8, 8) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], np.broadcast_to(level, (3, 8, 8)), atol=1e-4)


def test_float_image_outside_0_1_names_the_file(tmp_path):
    (tmp_path / 'c').mkdir()
    Image.fromarray(np.full((4, 4), 3.0, np.float32), 'F').save(tmp_path / 'c' / 'hdr.tif')
    with pytest.raises(ValueError, match=r'hdr.tif.*values in \[3, 3\]'):
        load_image_folder(tmp_path, size=4)


def test_exif_orientation_is_applied(tmp_path):
    """Orientation 6 (a camera held upright): stored row 0 is the displayed right column,
    stored column 0 the displayed top row."""
    (tmp_path / 'c').mkdir()
    pixels = np.zeros((10, 20, 3), np.uint8)   # stored 20 wide: red left half, blue right
    pixels[:, :10, 0] = 255
    pixels[:, 10:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(tmp_path / 'c' / 'photo.png', exif=exif)
    x, _, _ = load_image_folder(tmp_path, size=(20, 10))   # displayed: 10 wide, 20 tall
    np.testing.assert_allclose(x[0, 0, :8], 1, atol=1e-6)   # top: red
    np.testing.assert_allclose(x[0, 2, 12:], 1, atol=1e-6)  # bottom: blue


def test_decompression_bomb_names_the_file(tmp_path, monkeypatch):
    (tmp_path / 'c').mkdir()
    solid(tmp_path / 'c' / 'huge.png', (0, 0, 0), size=(40, 40))
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 100)   # 1600 pixels > 2 x the limit
    with pytest.raises(ValueError, match=r'huge.png.*1600 pixels.*MAX_IMAGE_PIXELS'):
        load_image_folder(tmp_path, size=4)
