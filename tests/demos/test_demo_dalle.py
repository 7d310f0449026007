"""demos/dalle.py: a tiny run of the DALL-E demo (dVAE, transformer, a CLIP trained on the
spot, k candidates per caption reranked), and the reuse of a CLIP given by --clip."""
import json

import numpy as np
import pytest

import minigen
from demos import dalle
from minigen.data.compositions import held_out_mask
from minigen.data.shapes import COLORS, SHAPES
from tests.demos.test_demo_conventions import TINY

ATTRIBUTES = {'shape', 'color', 'size', 'position', 'all_four'}


def test_tiny_run_writes_reranked_samples_captions_pictures_and_metrics(tmp_path):
    dalle.main(TINY['dalle'] + ['--out', str(tmp_path)])
    samples = np.load(tmp_path / 'samples.npy')
    captions = (tmp_path / 'captions.txt').read_text().splitlines()
    assert samples.shape == (4, 3, 32, 32) and samples.dtype == np.float32 and len(captions) == 4
    for name in ('prompts.png', 'tokens.png', 'reconstructions.png', 'loss.png'):
        assert (tmp_path / name).stat().st_size > 0
    m = json.loads((tmp_path / 'metrics.json').read_text())
    for key in ('before', 'after'):
        for part in ('', '_seen', '_held_out_compositions'):
            assert set(m[f'accuracy_{key}_rerank{part}']) == ATTRIBUTES
    assert m['token_grid'] == [8, 8] and m['n_held_out'] == 1 and m['n_seen'] == 3
    assert 1 <= m['dvae_perplexity'] <= 8 and m['clip_cosine_kept'] >= m['clip_cosine_mean']
    words = [c.split() for c in captions]
    held = {'shape': np.array([SHAPES.index(w[3]) for w in words]),
            'color': np.array([COLORS.index(w[2]) for w in words])}
    np.testing.assert_array_equal(held_out_mask(held), [False] * 3 + [True])
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert int(ckpt['extra']['dvae_step']) == 2 and int(ckpt['extra']['transformer_step']) == 2
    assert minigen.load(tmp_path / 'clip' / 'checkpoint.npz')['demo'] == 'clip'

    # --clip: that run's CLIP reranks a new run, and none is trained
    dalle.main(TINY['dalle'] + ['--out', str(tmp_path / 'again'), '--clip',
                                str(tmp_path / 'clip')])
    assert not (tmp_path / 'again' / 'clip').exists()
    again = np.load(tmp_path / 'again' / 'samples.npy')
    np.testing.assert_array_equal(again, samples)   # same seed, same CLIP: same choice


def test_a_missing_clip_is_refused_at_parse_time(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        dalle.main(['--clip', str(tmp_path / 'nope'), '--out', str(tmp_path / 'out')])
    assert done.value.code == 2 and 'no such file or folder' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
