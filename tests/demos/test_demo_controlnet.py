"""demos/controlnet.py: tiny runs of the ControlNet demo, its mask IoU, its data."""
import json

import numpy as np
import pytest

import minigen
from demos import controlnet
from minigen.data import make_shapes, split_compositions
from minigen.data.compositions import held_out_mask

TINY = ['--steps', '2', '--control-steps', '2', '--eval-every', '1', '--n-train', '64',
        '--samples', '4', '--eval-maps', '4', '--base-channels', '8', '--text-width', '16',
        '--sample-steps', '2', '--batch-size', '4', '--timesteps', '30']


def run(out, *extra):
    return controlnet.main(TINY + ['--out', str(out)] + list(extra))


def test_tiny_run_writes_samples_captions_controls_pictures_metrics(tmp_path):
    m = run(tmp_path)
    samples, controls = np.load(tmp_path / 'samples.npy'), np.load(tmp_path / 'controls.npy')
    captions = (tmp_path / 'captions.txt').read_text().splitlines()
    assert samples.shape == (8, 3, 16, 16) and controls.shape == (8, 1, 16, 16)
    assert 0 <= samples.min() and samples.max() <= 1 and len(captions) == 8
    # each control map twice, under two captions that differ in their colour word only
    np.testing.assert_array_equal(controls[:4], controls[4:])
    for a, b in zip(captions[:4], captions[4:]):
        wa, wb = a.split(), b.split()
        assert [i for i in range(len(wa)) if wa[i] != wb[i]] == [2], (a, b)
    for name in ('controls.png', 'iou.png', 'loss.png'):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / 'metrics.json').read_text())['mask_iou'] == m['mask_iou']
    assert 0 <= m['mask_iou'] <= 1 and m['mask_iou_real'] > 0.9
    assert set(m['accuracy']) == {'shape', 'color', 'size', 'position', 'all_four'}
    assert [s for s, _ in m['iou_by_step']] == [0, 1, 2]  # before training, then each step
    assert m['steps'] == {'base': 2, 'control': 2}


def test_base_flag_reuses_a_saved_base_model_frozen(tmp_path):
    run(tmp_path / 'first')
    ckpt = tmp_path / 'first' / 'checkpoint.npz'
    m = run(tmp_path / 'second', '--base', str(ckpt))
    assert m['steps'] == {'base': 0, 'control': 2}
    a = minigen.load(ckpt)['state']['ldm']
    b = minigen.load(tmp_path / 'second' / 'checkpoint.npz')['state']['ldm']
    assert all(np.array_equal(a[k], b[k]) for k in a)  # the base did not move
    with pytest.raises(SystemExit) as done:
        run(tmp_path / 'third', '--base', str(tmp_path / 'nope.npz'))
    assert done.value.code == 2 and not (tmp_path / 'third').exists()


def test_mask_iou_is_one_on_the_real_images_and_falls_with_a_shifted_object():
    args = controlnet.parse_args(['--samples', '200'])
    _, test = controlnet.load_data(args, controlnet.resolve_preset(args, controlnet.PRESETS))
    assert controlnet.mask_iou(test.images, test.silhouettes) > 0.95
    shifted = np.roll(test.images, 4, axis=3)
    assert controlnet.mask_iou(shifted, test.silhouettes) < 0.5
    blank = np.zeros_like(test.images) + 0.2
    assert controlnet.mask_iou(blank, test.silhouettes) == 0.0


def test_outline_control_is_the_silhouette_boundary():
    args = controlnet.parse_args(['--control', 'outline'])
    _, test = controlnet.load_data(args, dict(n_train=64, samples=50, eval_maps=4))
    assert set(np.unique(test.controls)) == {0.0, 1.0}
    assert (test.controls <= test.silhouettes).all()   # on the silhouette, a thin part of it
    assert test.controls.sum() < 0.8 * test.silhouettes.sum()


def test_the_training_split_keeps_masks_and_outlines_and_leaves_out_the_held_pairs():
    data = make_shapes(400, 16, seed=3, with_masks=True)
    kept, held = split_compositions(data)
    rows = np.flatnonzero(~held_out_mask(data.attrs))
    np.testing.assert_array_equal(kept.masks, data.masks[rows])
    np.testing.assert_array_equal(kept.outlines, data.outlines[rows])
    assert len(held.masks) == len(held.images) == 400 - len(rows)
    assert split_compositions(make_shapes(20, 16, seed=3))[0].masks is None


def test_clip_flag_gives_the_base_model_clip_s_frozen_text_tower(tmp_path):
    from demos import clip
    clip.main(['--steps', '2', '--batch-size', '6', '--n-train', '60', '--n-test', '20',
               '--widths', '4', '8', '--text-width', '8', '--out', str(tmp_path / 'clip')])
    run(tmp_path / 'cn', '--clip', str(tmp_path / 'clip'))
    tower = minigen.load(tmp_path / 'clip' / 'checkpoint.npz')['state']['model']
    ldm = minigen.load(tmp_path / 'cn' / 'checkpoint.npz')['state']['ldm']
    key = 'text_encoder.token_embedding.weight'
    np.testing.assert_array_equal(ldm[key], tower[key])  # frozen: trained steps left it as is
