"""demos/clip.py runs end to end on tiny settings, writes its outputs, and --resume
continues exactly where it stopped."""
import os

import numpy as np
import pytest

import minigen
from demos import clip

TINY = ['--steps', '2', '--batch-size', '6', '--n-train', '60', '--n-test', '20',
        '--widths', '4', '8', '--text-width', '8']


def test_demo_clip_runs_and_resumes(tmp_path):
    out = str(tmp_path / 'run')
    m = clip.main(TINY + ['--out', out])
    for name in ('similarity.png', 'loss.png', 'zero_shot.png', 'metrics.json',
                 'checkpoint.npz'):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    assert set(m['zero_shot_accuracy']) == {'shape', 'color', 'size', 'position'}
    assert set(m['retrieval_recall_same_caption']) == {f'{d}@{k}' for d in ('i2t', 't2i')
                                                       for k in (1, 5, 10)}
    assert 0 <= m['clip_score_real'] <= 100 and np.isfinite(m['final_loss'])
    assert m['settings']['dataset'] == 'shapes'
    m2 = clip.main(TINY + ['--out', out, '--resume', '--steps', '1'])
    assert m2['step'] == 3
    assert len(minigen.load(os.path.join(out, 'checkpoint.npz'))['extra']['scales']) == 3
    m3 = clip.main(TINY[:1] + ['3'] + TINY[2:] + ['--out', str(tmp_path / 'straight')])
    assert m3['final_loss'] == pytest.approx(m2['final_loss'], rel=1e-5)
    assert m3['clip_score_real'] == pytest.approx(m2['clip_score_real'], rel=1e-4)
    with pytest.raises(SystemExit, match='holds a run with'):
        clip.main(TINY + ['--out', out, '--resume', '--text-width', '16'])


def test_demo_clip_refuses_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit, match='clip --resume: no checkpoint'):
        clip.main(TINY + ['--out', str(tmp_path), '--resume'])
    with pytest.raises(SystemExit):
        clip.main(TINY + ['--dataset', 'mnist', '--out', str(tmp_path / 'never')])
    assert "invalid choice: 'mnist' (choose from 'shapes')" in capsys.readouterr().err
    assert not (tmp_path / 'never').exists()


def test_demo_clip_with_a_vit_image_tower(tmp_path):
    """--image-tower vit: CLIP's image encoder is minigen.contrastive.vit.ViT; its checkpoint
    names the tower, so a ResNet run does not resume it."""
    out = str(tmp_path / 'vit')
    m = clip.main(TINY + ['--image-tower', 'vit', '--out', out])
    state = minigen.load(os.path.join(out, 'checkpoint.npz'))['state']['model']
    assert 'image_encoder.cls_token' in state and m['settings']['image_tower'] == 'vit'
    assert np.isfinite(m['final_loss'])
    with pytest.raises(SystemExit, match='holds a run with'):
        clip.main(TINY + ['--out', out, '--resume'])
