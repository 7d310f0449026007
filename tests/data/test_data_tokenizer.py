"""The caption tokenizer: CLIP's layout, exact round trips, clear errors."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minigen.data.shapes import make_shapes, WORDS
from minigen.data.tokenizer import Tokenizer


def test_every_shapes_caption_round_trips_within_the_default_context():
    tok = Tokenizer()
    captions = make_shapes(500, seed=0, two_object_prob=0.5).captions
    ids = tok.encode(captions)
    assert ids.shape == (500, tok.context_length) and ids.dtype == np.int64
    assert tok.decode(ids) == captions


@given(words=st.lists(st.sampled_from(WORDS), max_size=18))
def test_ids_are_sot_words_eot_then_padding(words):
    tok = Tokenizer()
    text = ' '.join(words)
    ids = tok.encode(text)[0]
    n = len(words)
    assert ids[0] == tok.sot and ids[n + 1] == tok.eot and np.all(ids[n + 2:] == tok.pad)
    assert [tok.itos[i] for i in ids[1:n + 1]] == words
    assert tok.eot_positions(ids[None])[0] == n + 1
    assert tok.decode(ids) == text


def test_encoding_lowercases_and_splits_on_white_space():
    tok = Tokenizer()
    np.testing.assert_array_equal(tok.encode('A  Red\tcircle'), tok.encode('a red circle'))


def test_unknown_word_and_overlong_text_are_errors_naming_them():
    tok = Tokenizer(context_length=6)
    with pytest.raises(ValueError, match=r"unknown word\(s\) \['dodecahedron'\]"):
        tok.encode('a red dodecahedron')
    with pytest.raises(ValueError, match='context_length - 2 = 4'):
        tok.encode('a large red circle in the center')


def test_decode_stops_at_eot_and_rejects_bad_ids():
    tok = Tokenizer()
    ids = tok.encode(['a red circle'])
    ids[0, 5] = tok.stoi['blue']                 # after <eot>: ignored
    assert tok.decode(ids) == ['a red circle']
    with pytest.raises(ValueError, match='ids must lie in'):
        tok.decode(np.array([1, 999]))
    with pytest.raises(ValueError, match='integer ids'):
        tok.decode(np.zeros((2, 3), np.float32))


def test_custom_vocabulary_is_sorted_after_the_special_tokens():
    tok = Tokenizer(['zebra', 'apple', 'apple'], context_length=5)
    assert tok.itos == ['<pad>', '<sot>', '<eot>', 'apple', 'zebra'] and tok.vocab_size == 5
    with pytest.raises(ValueError, match='single lower-case words'):
        Tokenizer(['Two words'])
