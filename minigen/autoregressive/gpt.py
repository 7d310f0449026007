"""GPT: a decoder-only Transformer that predicts the next token.

Radford, Narasimhan, Salimans & Sutskever 2018 ("Improving Language Understanding by
Generative Pre-Training") and Radford et al. 2019 (GPT-2, "Language Models are Unsupervised
Multitask Learners"), in nanoGPT's plain form (karpathy/nanoGPT, model.py):

    h_0 = W_e[t_1..t_T] + W_p[1..T]                 token and position embeddings
    h_l = Block(h_{l-1}),  l = 1..L                 pre-norm, causal (minigen.nn.TransformerBlock)
    logits = LN(h_L) W_e^T                          the output tied to the token embedding
    loss = -1/(B T) sum_{b,t} log softmax(logits_{b,t})[t_{b,t+1}]     next-token cross-entropy

Causal self-attention lets position t read positions <= t only, so one pass trains every
prefix at once. For that reason a sampler may feed one position at a time (`step`) and keep,
per block, the normalised inputs LN_1(h_s) of the positions s < t it has seen: position t's
keys and values are projected from them, and nothing else about the past is needed. Sampling draws one token at a time from softmax(logits / temperature),
optionally kept to the k most likely tokens (top-k; Fan, Lewis & Dauphin 2018,
arXiv:1805.04833) or to the smallest set whose probability reaches p (top-p, nucleus
sampling; Holtzman et al. 2019, arXiv:1904.09751).
"""
import numpy as np

import autograd
import minigen.nn.functional as F
from minigen.nn import Embedding, LayerNorm, Module, ModuleList, TransformerBlock, init


class GPT(Module):
    """Token ids (B, T), T <= block_size, -> next-token logits (B, T, vocab_size)."""

    def __init__(self, vocab_size, block_size, d_model=128, n_layers=4, n_heads=4):
        super().__init__()
        self.vocab_size, self.block_size = vocab_size, block_size
        self.tok = Embedding(vocab_size, d_model)                      # W_e
        self.pos = Embedding(block_size, d_model)                      # W_p
        for w in (self.tok.weight, self.pos.weight):
            init.normal_(w, std=0.02)                                  # GPT-2's init
        self.blocks = ModuleList([TransformerBlock(d_model, n_heads) for _ in range(n_layers)])
        self.ln_f = LayerNorm(d_model)

    def forward(self, idx):
        idx = idx if isinstance(idx, autograd.Tensor) else autograd.tensor(
            np.asarray(idx), device=self.tok.weight.device)
        B, T = idx.shape
        if T > self.block_size:
            raise ValueError(f"GPT: {T} tokens, more than block_size={self.block_size}")
        return self.decode(self.tok(idx) + self.pos(autograd.arange(T, device=idx.device)))

    def decode(self, h):
        """h_0 (B, T, d_model) -> logits: the causal blocks, the last LayerNorm, W_e^T."""
        for block in self.blocks:
            h = block(h, causal=True)
        return self.ln_f(h) @ self.tok.weight.transpose(0, 1)         # LN(h_L) W_e^T

    def step(self, token, cache):
        """Next-token logits (B, vocab) of the new position t = len(cache[0]) given its
        tokens (B,): the blocks on that one position, position t attending to the cached
        LN_1 inputs of positions 0..t (it appends its own). `cache`: one list per block,
        [[] for _ in model.blocks] at the start. Equal to self(idx)[:, t]."""
        t = len(cache[0])
        if t >= self.block_size:
            raise ValueError(f"GPT.step: position {t} is past block_size={self.block_size}")
        token = autograd.tensor(np.asarray(token)[:, None], device=self.tok.weight.device)
        h = self.tok(token) + self.pos(autograd.arange(t, t + 1, device=token.device))
        for block, past in zip(self.blocks, cache):
            past.append(block.ln_1(h))                                     # LN_1(h_t)
            seen = autograd.cat(past, axis=1)                              # LN_1(h_0..t)
            h = h + block.attn(past[-1], seen, seen)                       # no later keys
            h = h + block.c_proj(block.act(block.c_fc(block.ln_2(h))))
        return (self.ln_f(h) @ self.tok.weight.transpose(0, 1))[:, 0]

    def loss(self, idx):
        """Next-token cross-entropy of a batch of sequences (B, T + 1): tokens 0..T-1 in,
        tokens 1..T the targets."""
        idx = np.asarray(idx.numpy() if isinstance(idx, autograd.Tensor) else idx)
        logits = self(idx[:, :-1])
        return F.cross_entropy(logits.reshape(-1, self.vocab_size),
                               autograd.tensor(idx[:, 1:].reshape(-1), device=logits.device))

    def generate(self, idx, n_tokens, temperature=1.0, top_k=None, top_p=None):
        """`idx` (B, T0) continued by n_tokens sampled one by one under no_grad (the context
        cut to the last block_size tokens), the engine's CPU RNG; NumPy (B, T0 + n_tokens).
        temperature 0 takes the most likely token (greedy)."""
        idx = np.array(idx, dtype=np.int64)
        with autograd.no_grad():
            for _ in range(n_tokens):
                logits = self(idx[:, -self.block_size:]).numpy()[:, -1].astype(np.float64)
                token = sample_token(logits, temperature, top_k, top_p)
                idx = np.concatenate([idx, token[:, None]], axis=1)
        return idx


def top_k_filter(logits, k):
    """Logits (B, V) with all but the k largest of each row set to -inf (exactly k kept,
    ties broken by position)."""
    keep = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    out = np.full_like(logits, -np.inf)
    np.put_along_axis(out, keep, np.take_along_axis(logits, keep, axis=1), axis=1)
    return out


def top_p_filter(logits, p):
    """Logits (B, V) kept on the smallest set of most likely tokens whose probability
    reaches p (the nucleus), -inf elsewhere."""
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    order = np.argsort(-probs, axis=1, kind='stable')
    before = np.cumsum(np.take_along_axis(probs, order, axis=1), axis=1) - \
        np.take_along_axis(probs, order, axis=1)            # mass of the tokens ranked above
    keep_sorted = before < p                                 # the top one always stays
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=1)
    return np.where(keep, logits, -np.inf)


def sample_token(logits, temperature=1.0, top_k=None, top_p=None):
    """One token per row of logits (B, V): softmax(logits / temperature), filtered by top-k
    then top-p, drawn with the engine's CPU RNG; temperature 0: the argmax."""
    if temperature == 0:
        return logits.argmax(1)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, min(top_k, logits.shape[1]))
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    cdf = np.cumsum(probs / probs.sum(1, keepdims=True), axis=1)
    u = autograd.rand(len(logits), 1, device='cpu').numpy().astype(np.float64)
    return np.minimum((cdf < u).sum(1), logits.shape[1] - 1)
