"""minigen.metrics.attribute_accuracy: per-head accuracy of a classifier against what was
asked, and the share of images right on every head."""
import numpy as np
import pytest

from minigen.metrics import attribute_accuracy


class OneHot:
    """A stand-in classifier: head a predicts predicted[a] (one-hot logits)."""
    def __init__(self, predicted, classes=5):
        self.predicted, self.classes = predicted, classes

    def logits(self, images):
        return {a: np.eye(self.classes)[v[:len(images)]] for a, v in self.predicted.items()}


def test_per_head_and_all_heads_against_plain_counting():
    rng = np.random.default_rng(0)
    asked = {'shape': rng.integers(0, 5, 40), 'color': rng.integers(0, 5, 40)}
    predicted = {a: np.where(rng.random(40) < 0.7, v, (v + 1) % 5) for a, v in asked.items()}
    images = np.zeros((30, 3, 8, 8))   # only the first 30 asked values are read
    acc = attribute_accuracy(OneHot(predicted), images, asked)
    for a in asked:
        assert acc[a] == pytest.approx(np.mean(predicted[a][:30] == asked[a][:30]))
    both = (predicted['shape'] == asked['shape']) & (predicted['color'] == asked['color'])
    assert acc['all_four'] == pytest.approx(np.mean(both[:30]))
    assert acc['all_four'] <= min(acc['shape'], acc['color'])


def test_a_head_without_asked_values_is_refused():
    net = OneHot({'shape': np.zeros(4, int), 'size': np.zeros(4, int)})
    with pytest.raises(ValueError, match="attribute_accuracy.*'size'"):
        attribute_accuracy(net, np.zeros((4, 3, 8, 8)), {'shape': np.zeros(4, int)})
