"""gpt_step, gpt_params: the GPT of ../shared/BENCHMARKS.md (issue 17).

gpt_step    one AdamW(lr 3e-4, weight decay 0.1) training step of minigen's GPT
            (minigen/autoregressive/gpt.py: vocabulary 512, context 64, width 128, 4 pre-norm
            layers of 4 heads, output tied to the token embedding) on a fixed batch of 32
            token sequences of length 65: the first 64 in, the last 64 the targets;
            forward, next-token cross-entropy over all 32 x 64 positions, zero grads,
            backward, step
gpt_params  its parameter count, which must be the PyTorch reference's 867,072 (so the two
            build the same network)

    python -m benchmarks --only gpt
"""
import numpy as np

import autograd
from benchmarks import median_time
from minigen.autoregressive.gpt import GPT
from minigen.optim import AdamW

VOCAB, CONTEXT, WIDTH, LAYERS, HEADS, BATCH = 512, 64, 128, 4, 4, 32


def _setup(device):
    autograd.manual_seed(0)
    model = GPT(VOCAB, CONTEXT, d_model=WIDTH, n_layers=LAYERS, n_heads=HEADS).to(device)
    opt = AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    idx = np.random.default_rng(0).integers(0, VOCAB, size=(BATCH, CONTEXT + 1))

    def step():
        loss = model.loss(idx)  # cross-entropy of tokens 1..64 given 0..63
        opt.zero_grad()
        loss.backward()
        opt.step()

    return model, step


def run(device='cpu', repeat=5):
    model, step = _setup(device)
    return {'gpt_step': median_time(step, device, repeat),
            'gpt_params': sum(p.size for p in model.parameters())}
