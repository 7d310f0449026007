"""demos/unclip.py: a tiny run of the unCLIP demo (a CLIP trained on the spot, the prior, the
decoder; text to image, variations, interpolation), and the reuse of a CLIP given by --clip."""
import json

import numpy as np
import pytest

import minigen
from demos import unclip
from tests.demos.test_demo_conventions import TINY

ATTRIBUTES = {'shape', 'color', 'size', 'position', 'all_four'}


def test_tiny_run_writes_samples_captions_pictures_and_metrics(tmp_path):
    unclip.main(TINY['unclip'] + ['--out', str(tmp_path)])
    samples = np.load(tmp_path / 'samples.npy')
    captions = (tmp_path / 'captions.txt').read_text().splitlines()
    assert samples.shape == (4, 3, 32, 32) and samples.dtype == np.float32 and len(captions) == 4
    # 16x16 samples enlarged by pixel repetition for the shapes classifier
    np.testing.assert_array_equal(samples[:, :, ::2, ::2], samples[:, :, 1::2, 1::2])
    for name in ('prompts.png', 'variations.png', 'interpolation.png', 'loss.png'):
        assert (tmp_path / name).stat().st_size > 0
    m = json.loads((tmp_path / 'metrics.json').read_text())
    for part in ('', '_held_out_compositions'):
        assert set(m[f'accuracy{part}']) == ATTRIBUTES
        assert set(m[f'real_accuracy_16px{part}']) == ATTRIBUTES
        assert -1 <= m[f'prior_cosine{part}'] <= 1 and -1 <= m[f'text_cosine_baseline{part}'] <= 1
    for given in ('true_image_embedding', 'text_embedding'):   # the decoder without the prior
        assert set(m[f'accuracy_decoding_{given}']) == ATTRIBUTES
    assert m['n_seen'] == 3 and m['n_held_out'] == 1 and m['resolution'] == 16
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert int(ckpt['extra']['prior_step']) == 2 and int(ckpt['extra']['decoder_step']) == 2
    assert minigen.load(tmp_path / 'clip' / 'checkpoint.npz')['demo'] == 'clip'

    # --clip: that run's CLIP embeds for a new run, and none is trained
    unclip.main(TINY['unclip'] + ['--out', str(tmp_path / 'again'), '--clip',
                                  str(tmp_path / 'clip')])
    assert not (tmp_path / 'again' / 'clip').exists()
    np.testing.assert_array_equal(np.load(tmp_path / 'again' / 'samples.npy'), samples)


def test_a_missing_clip_is_refused_at_parse_time(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        unclip.main(['--clip', str(tmp_path / 'nope'), '--out', str(tmp_path / 'out')])
    assert done.value.code == 2 and 'no such file or folder' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
