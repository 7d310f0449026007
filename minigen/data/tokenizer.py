"""A word-level tokenizer for the shapes captions, laid out as CLIP's is.

CLIP (Radford et al. 2021, arXiv:2103.00020) wraps every text in start and end tokens
and pads it to a fixed context length; its text encoder reads the features at the end
token. Here a word is a token (the captions use a vocabulary of a few dozen words):

    "a red circle"  ->  [<sot>, a, red, circle, <eot>, <pad>, ..., <pad>]   (context_length ids)

with ids  <pad> = 0, <sot> = 1, <eot> = 2, then the words in sorted order. Text is
lower-cased and split on white space; a word outside the vocabulary, or a text too long
for the context, is an error that names it.
"""
import numpy as np

from .shapes import WORDS

SPECIAL = ('<pad>', '<sot>', '<eot>')


class Tokenizer:
    """Maps texts to (N, context_length) int64 ids and back. Default words: the shapes
    captions' vocabulary."""

    def __init__(self, words=WORDS, context_length=20):
        words = sorted(set(words))
        if any(w in SPECIAL or not w or w != w.lower() or len(w.split()) != 1 for w in words):
            raise ValueError(f"Tokenizer: words must be single lower-case words other than "
                             f"{SPECIAL}, got {words}")
        if context_length < 3:
            raise ValueError(f"Tokenizer: context_length must be >= 3, got {context_length}")
        self.itos = list(SPECIAL) + words
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.pad, self.sot, self.eot = 0, 1, 2
        self.context_length = context_length

    @property
    def vocab_size(self):
        return len(self.itos)

    def encode(self, texts):
        """A text or list of texts -> int64 ids (N, context_length)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        ids = np.full((len(texts), self.context_length), self.pad, dtype=np.int64)
        for i, text in enumerate(texts):
            words = text.lower().split()
            unknown = [w for w in words if w not in self.stoi]
            if unknown:
                raise ValueError(f"Tokenizer.encode: unknown word(s) {unknown} in {text!r}; "
                                 f"known words: {self.itos[len(SPECIAL):]}")
            if len(words) + 2 > self.context_length:
                raise ValueError(f"Tokenizer.encode: {text!r} has {len(words)} words, more than "
                                 f"context_length - 2 = {self.context_length - 2}")
            ids[i, :len(words) + 2] = [self.sot, *(self.stoi[w] for w in words), self.eot]
        return ids

    def decode(self, ids):
        """int ids (N, L) or (L,) -> texts: the words between <sot> and the first <eot>."""
        ids = np.asarray(ids)
        if ids.ndim not in (1, 2) or ids.dtype.kind not in 'iu':
            raise ValueError(f"Tokenizer.decode: expected integer ids of shape (N, L) or (L,), "
                             f"got {ids.dtype} of shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"Tokenizer.decode: ids must lie in [0, {self.vocab_size}), got "
                             f"values from {ids.min()} to {ids.max()}")
        texts = []
        for row in np.atleast_2d(ids):
            words = []
            for i in row:
                if i == self.eot:
                    break
                if i not in (self.sot, self.pad):
                    words.append(self.itos[i])
            texts.append(' '.join(words))
        return texts[0] if ids.ndim == 1 else texts

    def eot_positions(self, ids):
        """The index of the <eot> token in each row (where CLIP reads its text features)."""
        return np.argmax(np.asarray(ids) == self.eot, axis=-1)
