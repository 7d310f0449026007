"""minigen.metrics.mask_iou: the IoU of the drawn object (pixels far from the median colour)
with a silhouette."""
import numpy as np
import pytest

from minigen.metrics import mask_iou, object_mask


def square(n=2, side=16, lo=4, hi=10, colour=(0.9, 0.1, 0.1)):
    images = np.full((n, 3, side, side), 0.5)
    images[:, :, lo:hi, lo:hi] = np.array(colour)[:, None, None]
    mask = np.zeros((n, 1, side, side), bool)
    mask[:, :, lo:hi, lo:hi] = True
    return images, mask


def test_the_object_is_found_on_a_plain_background():
    images, mask = square()
    np.testing.assert_array_equal(object_mask(images), mask)
    assert mask_iou(images, mask) == 1.0


def test_iou_of_shifted_squares_is_overlap_over_union():
    images, _ = square(lo=4, hi=10)      # 6x6 object
    _, mask = square(lo=7, hi=13)        # 6x6 silhouette, 3x3 overlap
    assert mask_iou(images, mask) == pytest.approx(9 / (36 + 36 - 9))


def test_a_blank_image_against_an_empty_silhouette_counts_as_right():
    blank = np.full((1, 3, 8, 8), 0.3)
    assert mask_iou(blank, np.zeros((1, 1, 8, 8), bool)) == 1.0
    with pytest.raises(ValueError, match='mask_iou'):
        mask_iou(blank, np.zeros((1, 8, 8), bool))
