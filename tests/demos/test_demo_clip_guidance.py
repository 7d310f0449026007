"""demos/clip_guidance.py: a tiny run (an unconditional DDPM trained here, a CLIP trained on
the spot, DDIM at each guidance scale) writes its files and a row per scale; a saved run is
sampled again with --steps 0 --resume and --clip without training anything; a demos.ddpm
run is guided with --ddpm; missing paths are refused at parse time."""
import json

import numpy as np
import pytest

import minigen
from demos import clip_guidance
from tests.demos.test_demo_conventions import TINY

ATTRIBUTES = {'shape', 'color', 'size', 'position', 'all_four'}


def test_tiny_run_writes_a_row_per_scale_samples_captions_and_pictures(tmp_path):
    clip_guidance.main(TINY['clip_guidance'] + ['--out', str(tmp_path)])
    samples = np.load(tmp_path / 'samples.npy')
    captions = (tmp_path / 'captions.txt').read_text().splitlines()
    assert samples.shape == (4, 3, 16, 16) and samples.dtype == np.float32
    assert len(captions) == 4 and all(c.startswith('a large ') for c in captions)
    for name in ('guidance.png', 'scales.png', 'loss.png'):
        assert (tmp_path / name).stat().st_size > 0
    m = json.loads((tmp_path / 'metrics.json').read_text())
    assert [r['scale'] for r in m['by_scale']] == [0.0, 10.0]  # s = 0 always comes first
    for row in m['by_scale'] + [m['real_images']]:
        assert set(row['accuracy']) == ATTRIBUTES and 0 <= row['clip_score'] <= 100
    assert m['color_accuracy_unguided'] == m['by_scale'][0]['accuracy']['color']
    assert m['color_gain_points'] >= 0 and m['step'] == 2
    assert minigen.load(tmp_path / 'checkpoint.npz')['demo'] == 'clip_guidance'
    assert minigen.load(tmp_path / 'clip' / 'checkpoint.npz')['demo'] == 'clip'

    # the saved DDPM sampled again, guided by that CLIP given by --clip: same samples
    clip_guidance.main(TINY['clip_guidance'] + ['--steps', '0', '--resume', '--out',
                                                str(tmp_path), '--clip', str(tmp_path / 'clip')])
    np.testing.assert_array_equal(np.load(tmp_path / 'samples.npy'), samples)


def test_a_demos_ddpm_run_is_guided_with_ddpm(tmp_path):
    from demos import ddpm
    ddpm.main(TINY['ddpm'] + ['--out', str(tmp_path / 'ddpm')])
    clip_guidance.main(TINY['clip_guidance'] + ['--out', str(tmp_path / 'out'), '--ddpm',
                                                str(tmp_path / 'ddpm')])
    assert np.load(tmp_path / 'out' / 'samples.npy').shape == (4, 3, 16, 16)
    assert not (tmp_path / 'out' / 'checkpoint.npz').exists()  # nothing trained here
    ddpm.main(TINY['ddpm'] + ['--class-cond', '--out', str(tmp_path / 'cond')])
    with pytest.raises(SystemExit, match='not an unconditional demos.ddpm run on shapes'):
        clip_guidance.main(TINY['clip_guidance'] + ['--out', str(tmp_path / 'out'), '--ddpm',
                                                    str(tmp_path / 'cond')])


def test_target_x_t_trains_a_noise_aware_image_tower_beside_the_frozen_text_tower(tmp_path):
    clip_guidance.main(TINY['clip_guidance'] + ['--out', str(tmp_path), '--target', 'x_t',
                                                '--noise-aware-steps', '2'])
    clean = minigen.load(tmp_path / 'clip' / 'checkpoint.npz')['state']['model']
    noisy = minigen.load(tmp_path / 'noise_aware_clip.npz')
    assert noisy['steps'] == 2 and set(noisy['state']) == set(clean)
    for name, value in clean.items():
        same = np.array_equal(noisy['state'][name], value)
        assert same == name.startswith(('text_encoder.', 'text_projection')), name
    assert len(json.loads((tmp_path / 'metrics.json').read_text())['by_scale']) == 2


@pytest.mark.parametrize('flag', ['--clip', '--ddpm'])
def test_a_missing_path_is_refused_at_parse_time(flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        clip_guidance.main([flag, str(tmp_path / 'nope'), '--out', str(tmp_path / 'out')])
    assert done.value.code == 2 and 'no such file or folder' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
