"""demos/dcgan.py: a tiny run writes every promised file (samples.npy and the metrics
included), --resume continues the saved run exactly (the EMA of G's weights included), and
--steps 0 --resume evaluates the saved run again."""
import json

import numpy as np
import pytest
from PIL import Image

import autograd
import minigen
from demos.dcgan import lr_scale, main, parse_args

TINY = ['--steps', '4', '--batch-size', '8', '--ngf', '8', '--ndf', '8', '--eval-samples', '24']


@pytest.mark.parametrize('dataset', ['mnist', 'shapes'])
def test_tiny_run_writes_valid_outputs(dataset, device, tmp_path):
    metrics = main(TINY + ['--dataset', dataset, '--device', device, '--out', str(tmp_path)])
    for name in ('samples.png', 'interpolation.png', 'loss.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG' and min(im.size) > 60
    with Image.open(tmp_path / 'progress.gif') as im:
        assert im.format == 'GIF' and im.n_frames == len(metrics['trajectory']) == 4
    assert len(list(tmp_path.glob('samples_0*.png'))) == 4
    samples = np.load(tmp_path / 'samples.npy')
    size = {'mnist': 28, 'shapes': 16}[dataset] if metrics['dataset'] == dataset else 32
    assert samples.shape == (24, 1 if size == 28 else 3, size, size)
    assert samples.dtype == np.float32 and 0 <= samples.min() <= samples.max() <= 1
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['step'] == 4 and saved == json.loads(json.dumps(metrics))
    assert saved['dataset'] in (dataset, 'shapes')  # MNIST falls back to shapes when absent
    assert np.isfinite(saved['final']['fid']) and 0 <= saved['final']['precision'] <= 1
    assert saved['samples'] == 24 and (tmp_path / 'metrics.png').exists()
    assert 0 <= saved['final']['confident_fraction'] <= 1


def test_samples_come_from_the_averaged_generator(tmp_path):
    """samples.npy is G's output with the EMA weights swapped in, not the last step's."""
    from minigen.gans import DCGANDiscriminator, DCGANGenerator
    from minigen.gans.sampling import sample
    main(TINY + ['--dataset', 'mnist', '--out', str(tmp_path)])
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    if ckpt['config']['dataset'] != 'mnist':
        pytest.skip('MNIST absent')
    G = DCGANGenerator(100, 28, 1, ngf=8)
    G.load_state_dict(ckpt['state']['G'])
    shadow = ckpt['state']['ema']['shadow']
    assert any(not np.allclose(shadow[k], p.data) for k, p in G.named_parameters())
    autograd.manual_seed(0)  # the demo's draws replayed: G's and D's init, z_fixed, z_eval
    DCGANGenerator(100, 28, 1, ngf=8), DCGANDiscriminator(28, 1, ndf=8)
    z_fixed, z_eval = autograd.randn(64, 100), autograd.randn(24, 100)
    samples = np.load(tmp_path / 'samples.npy')
    np.testing.assert_raises(AssertionError, np.testing.assert_allclose, sample(G, z_eval),
                             samples, atol=1e-5)
    for k, p in G.named_parameters():
        p.data[...] = shadow[k]
    np.testing.assert_allclose(sample(G, z_eval), samples, atol=1e-5)


def test_resume_continues_the_saved_run_exactly(tmp_path):
    main(TINY[:1] + ['2'] + TINY[2:] + ['--out', str(tmp_path / 'a')])
    resumed = main(TINY[:1] + ['2'] + TINY[2:] + ['--out', str(tmp_path / 'a'), '--resume'])
    main(TINY + ['--out', str(tmp_path / 'b')])
    assert resumed['step'] == 4
    a = minigen.load(tmp_path / 'a' / 'checkpoint.npz')
    b = minigen.load(tmp_path / 'b' / 'checkpoint.npz')
    np.testing.assert_allclose(a['extra']['losses'], b['extra']['losses'], rtol=1e-5)
    for net in ('G', 'D'):
        for k in b['state'][net]:
            np.testing.assert_allclose(a['state'][net][k], b['state'][net][k], rtol=1e-5,
                                       atol=1e-6)
    assert [r['step'] for r in resumed['trajectory']] == [1, 2, 3, 4]
    assert a['state']['ema']['num_updates'] == b['state']['ema']['num_updates'] == 4
    for k, v in b['state']['ema']['shadow'].items():  # the EMA of G resumes exactly too
        np.testing.assert_allclose(a['state']['ema']['shadow'][k], v, rtol=1e-5, atol=1e-6)
    with pytest.raises(SystemExit, match='holds a run with'):
        main(TINY + ['--ngf', '16', '--out', str(tmp_path / 'a'), '--resume'])


def test_steps_0_resume_evaluates_the_saved_run_again(tmp_path):
    first = main(TINY + ['--out', str(tmp_path)])
    again = main(['--steps', '0'] + TINY[2:] + ['--out', str(tmp_path), '--resume'])
    assert again['step'] == 4 and again['trajectory'] == first['trajectory']
    assert np.load(tmp_path / 'samples.npy').shape[0] == 24


def test_resume_without_a_checkpoint_is_refused_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match='no checkpoint'):
        main(TINY + ['--out', str(tmp_path), '--resume'])


def test_a_run_with_nothing_to_do_is_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(['--steps', '0', '--out', str(tmp_path)])
    assert '--steps must be >= 1' in capsys.readouterr().err
    assert not (tmp_path / 'checkpoint.npz').exists()


def test_lr_decay_is_flat_then_a_straight_line_to_zero():
    assert [lr_scale(s, 2400, 0.0) for s in (0, 2399)] == [1.0, 1.0]
    assert [lr_scale(s, 2400, 0.25) for s in (0, 1800, 2100, 2399)] == \
        [1.0, 1.0, 0.5, 1 / 600]


@pytest.mark.parametrize('flags', [['--lr-decay', '1'], ['--lr-decay', '-0.1'],
                                   ['--label-smoothing', '0.5'], ['--lr-d', '0'],
                                   ['--label-smoothing', '0.1', '--loss', 'hinge']])
def test_bad_recipe_flags_are_refused_at_parse_time(flags, capsys):
    with pytest.raises(SystemExit):
        parse_args(flags)
    assert '--' in capsys.readouterr().err


def test_recipe_flags_reach_the_settings():
    _, hp = parse_args(['--lr', '2e-4', '--lr-decay', '0.25', '--label-smoothing', '0.1'])
    assert (hp['lr'], hp['lr_d'], hp['lr_decay'], hp['label_smoothing']) == \
        (2e-4, 2e-4, 0.25, 0.1)  # D's lr follows --lr unless --lr-d is given
    assert parse_args(['--lr-d', '4e-4'])[1]['lr_d'] == 4e-4
    _, hp = parse_args(['--dataset', 'shapes'])
    assert (hp['size'], hp['ngf'], hp['sizes']) == (16, 64, ('large',))  # the 16 x 16 preset
    assert parse_args(['--dataset', 'shapes', '--sizes', 'small', 'large'])[1]['sizes'] == \
        ('small', 'large')


def test_bad_sizes_are_refused_at_parse_time(capsys):
    with pytest.raises(SystemExit):
        parse_args(['--dataset', 'shapes', '--sizes', 'huge'])
    assert '--sizes' in capsys.readouterr().err


def test_shapes_run_trains_on_the_chosen_sizes(tmp_path, monkeypatch):
    """--sizes reaches the data: the run loads shapes of exactly those object sizes."""
    import demos.dcgan as demo
    seen = []
    real_load = demo.load_image_dataset
    monkeypatch.setattr(demo, 'load_image_dataset',
                        lambda *a, **k: seen.append(k['shapes_sizes']) or real_load(*a, **k))
    main(TINY + ['--dataset', 'shapes', '--sizes', 'small', '--out', str(tmp_path)])
    assert seen == [('small',)]  # make_shapes_of_sizes keeps only those (its own test)
