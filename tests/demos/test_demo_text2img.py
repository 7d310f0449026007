"""demos/text2img.py: tiny runs of the latent text-to-image demo."""
import json

import numpy as np
import pytest

import minigen
from demos import text2img
from minigen.data.compositions import HELD_OUT_PAIRS, held_out_mask

TINY = ['--steps', '2', '--ae-steps', '2', '--n-train', '64', '--samples', '8',
        '--base-channels', '8', '--ae-channels', '8', '--text-width', '16', '--sample-steps', '2',
        '--batch-size', '4', '--seeds', '2', '--timesteps', '30']


def run(tmp_path, *extra, tiny=TINY):
    text2img.main(list(tiny) + ['--out', str(tmp_path)] + list(extra))
    return tmp_path


def with_steps(steps, ae_steps='2'):
    args = list(TINY)
    args[args.index('--steps') + 1], args[args.index('--ae-steps') + 1] = steps, ae_steps
    return args


def test_tiny_run_writes_samples_captions_pictures_metrics_and_checkpoint(tmp_path):
    out = run(tmp_path)
    samples = np.load(out / 'samples.npy')
    captions = (out / 'captions.txt').read_text().splitlines()
    assert samples.shape == (8, 3, 32, 32) and samples.dtype == np.float32
    assert 0 <= samples.min() and samples.max() <= 1 and len(captions) == 8
    assert all(c.startswith('a ') for c in captions)
    for name in ('prompts.png', 'guidance.png', 'reconstructions.png', 'latents.png',
                 'trajectory.gif'):
        assert (out / name).stat().st_size > 0
    m = json.loads((out / 'metrics.json').read_text())
    for key in ('accuracy', 'accuracy_held_out_compositions', 'real_accuracy',
                'real_accuracy_held_out_compositions'):
        assert set(m[key]) == {'shape', 'color', 'size', 'position', 'all_four'}
    for key in ('fid', 'psnr', 'ssim', 'scale_factor', 'latent_unet_seconds_per_step',
                'pixel_unet_seconds_per_step'):
        assert np.isfinite(m[key]), key
    ckpt = minigen.load(out / 'checkpoint.npz')
    assert ckpt['extra']['stage'] == 'latent' and int(ckpt['extra']['latent_step']) == 2
    assert float(ckpt['state']['ae']['scale_factor']) == pytest.approx(m['scale_factor'])


def test_a_run_killed_in_either_stage_resumes_to_the_uninterrupted_result(tmp_path,
                                                                          monkeypatch):
    whole = run(tmp_path / 'whole', tiny=with_steps('4'))
    # killed in the first stage, just after its last checkpoint
    def killed(run_):
        raise KeyboardInterrupt
    with monkeypatch.context() as m:
        m.setattr(text2img, 'fit_scale', killed)
        with pytest.raises(KeyboardInterrupt):
            run(tmp_path / 'parts', '--checkpoint-every', '1', tiny=with_steps('4'))
    ckpt = minigen.load(tmp_path / 'parts' / 'checkpoint.npz')
    assert ckpt['extra']['stage'] == 'first_stage' and int(ckpt['extra']['ae_step']) == 2
    run(tmp_path / 'parts', tiny=with_steps('2'))
    run(tmp_path / 'parts', '--resume', tiny=with_steps('4'))  # then in the second
    np.testing.assert_allclose(np.load(whole / 'samples.npy'),
                               np.load(tmp_path / 'parts' / 'samples.npy'), atol=1e-5)
    a, b = (minigen.load(p / 'checkpoint.npz')['state']['ldm'] for p in (whole,
                                                                         tmp_path / 'parts'))
    assert all(np.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_prompt_draws_exactly_those_captions_from_a_saved_run(tmp_path):
    run(tmp_path)
    prompts = ['a large red circle in the top left', 'a small blue square at the bottom']
    run(tmp_path, '--resume', '--steps', '0', '--prompt', prompts[0], '--prompt', prompts[1])
    assert np.load(tmp_path / 'samples.npy').shape == (2, 3, 32, 32)
    assert (tmp_path / 'captions.txt').read_text().splitlines() == prompts


@pytest.mark.parametrize('bad', [['--sampler', 'nope'], ['--dataset', 'mnist'],
                                 ['--unconditional', '--prompt', 'a red circle']])
def test_a_bad_flag_is_refused_before_any_work(tmp_path, bad):
    with pytest.raises(SystemExit) as done:
        text2img.main(bad + ['--out', str(tmp_path / 'out')])
    assert done.value.code == 2 and not (tmp_path / 'out').exists()


def test_held_out_compositions_never_appear_in_the_training_data():
    args = text2img.parse_args(['--n-train', '3000'])
    train, seen, held = text2img.load_data(args, text2img.resolve_preset(args, text2img.PRESETS))
    assert len(train.images) == len(train.captions) > 2000 and len(held.images) > 0
    assert not held_out_mask(train.attrs).any() and held_out_mask(held.attrs).all()
    for shape, color in HELD_OUT_PAIRS:
        assert not any(f'{color} {shape}' in c for c in train.captions)
        assert all(f'{color} {shape}' not in c for c in seen.captions)


def test_unconditional_trains_the_same_latent_model_without_text(tmp_path):
    out = run(tmp_path, '--unconditional')
    assert np.load(out / 'samples.npy').shape == (8, 3, 32, 32)
    assert minigen.load(out / 'checkpoint.npz')['config']['unconditional'] is True


def test_no_pooled_trains_the_cross_attention_only_model(tmp_path):
    out = run(tmp_path, '--no-pooled', '--steps', '1')
    ckpt = minigen.load(out / 'checkpoint.npz')
    assert ckpt['config']['pooled'] is False
    assert not any(k.startswith('unet.pooled_proj') for k in ckpt['state']['ldm'])
    pooled = minigen.load(run(tmp_path / 'pooled', '--steps', '1') / 'checkpoint.npz')
    assert any(k.startswith('unet.pooled_proj') for k in pooled['state']['ldm'])


def test_clip_flag_uses_the_frozen_clip_text_tower_and_reports_the_clip_score(tmp_path):
    from demos import clip
    clip.main(['--steps', '2', '--batch-size', '6', '--n-train', '60', '--n-test', '20',
               '--widths', '4', '8', '--text-width', '8', '--out', str(tmp_path / 'clip')])
    out = run(tmp_path / 'ldm', '--clip', str(tmp_path / 'clip'))
    m = json.loads((out / 'metrics.json').read_text())
    assert 0 <= m['clip_score'] <= 100 and 0 <= m['clip_score_real'] <= 100
    tower = minigen.load(tmp_path / 'clip' / 'checkpoint.npz')['state']['model']
    ldm = minigen.load(out / 'checkpoint.npz')['state']['ldm']
    key = 'text_encoder.token_embedding.weight'
    np.testing.assert_array_equal(ldm[key], tower[key])  # frozen: trained steps left it as is
