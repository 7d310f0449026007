"""The demo conventions (demos/README.md, demos/conventions.py), checked for every demo:

- every demo's --help lists the common flags: --dataset with its choices (even when there
  is one), --device, --seed and --out, and, for the demos that train, --preset and --resume;
- a bad flag value is refused by argparse (exit status 2) before any work starts;
- a tiny run of each image-generative demo writes samples.npy (float32 (N, C, H, W) in
  [0, 1], what `python -m demos.evaluate --samples` reads), a PNG, metrics.json and a
  checkpoint.npz written by conventions.save_checkpoint.
"""
import importlib
import json
import os
import re

import numpy as np
import pytest

import minigen
from demos.conventions import MNIST_ROOT

# The tiny arguments of each image-generative demo: a few steps of a narrow net and a
# handful of samples, seconds each (each demo's owner keeps its entry in step with its flags).
TINY = {
    'ddpm': ['--dataset', 'shapes', '--steps', '2', '--samples', '8', '--base-channels', '8',
             '--n-train', '64', '--timesteps', '30', '--batch-size', '4', '--sample-steps', '3'],
    'dcgan': ['--dataset', 'mnist', '--steps', '2', '--batch-size', '8',
              '--ngf', '8', '--ndf', '8', '--eval-samples', '16'],
    'cgan': ['--dataset', 'mnist', '--steps', '2', '--batch-size', '8',
             '--ngf', '8', '--ndf', '8', '--eval-samples', '16'],
    'ebm': ['--dataset', 'mnist', '--steps', '2', '--steps-ebm', '2', '--steps-2d', '2',
            '--steps-ebm-2d', '2', '--batch-size', '4', '--samples', '8', '--train-images',
            '64', '--base-channels', '8', '--langevin-steps', '2', '--langevin-steps-2d', '2',
            '--noise-steps', '2', '--sample-steps', '1'],
    'vae': ['--dataset', 'mnist', '--steps', '2', '--steps-2d', '2', '--samples', '8',
            '--batch-size', '8', '--iw-samples', '2', '--train-images', '64',
            '--eval-images', '32'],
    'vqvae': ['--dataset', 'mnist', '--steps', '2', '--samples', '8', '--batch-size', '8',
              '--train-images', '64', '--eval-images', '32'],
    'text2img': ['--dataset', 'shapes', '--steps', '2', '--ae-steps', '2', '--n-train', '64',
                 '--samples', '8', '--base-channels', '8', '--ae-channels', '8',
                 '--text-width', '16', '--sample-steps', '2', '--batch-size', '4',
                 '--seeds', '2', '--timesteps', '30'],
    'flow': ['--dataset', 'mnist', '--steps', '2', '--steps-2d', '2', '--batch-size', '8',
             '--samples', '8', '--train-images', '64', '--eval-images', '32', '--hidden', '4',
             '4', '--flow-steps', '1', '--checkerboard-steps', '1', '--layers-2d', '2',
             '--hidden-2d', '8'],
    'pix2pix': ['--dataset', 'shapes', '--steps', '2', '--batch-size', '4', '--ngf', '4',
                '--ndf', '4', '--n-train', '16', '--n-held', '8'],
    'cyclegan': ['--dataset', 'shapes', '--steps', '2', '--batch-size', '4', '--ngf', '4',
                 '--ndf', '4', '--n-train', '16', '--n-held', '8'],
    'stylegan': ['--dataset', 'mnist', '--steps', '2', '--batch-size', '4', '--width', '8',
                 '--ndf', '4', '--samples', '8'],
    'pixelcnn': ['--dataset', 'mnist', '--steps', '2', '--batch-size', '8', '--channels', '4',
                 '--layers', '1', '--samples-per-class', '1', '--completions', '1',
                 '--train-images', '64', '--eval-images', '32', '--eval-every', '2'],
    'controlnet': ['--dataset', 'shapes', '--steps', '2', '--control-steps', '2',
                   '--eval-every', '1', '--n-train', '64', '--samples', '4', '--eval-maps', '4',
                   '--base-channels', '8', '--text-width', '16', '--sample-steps', '2',
                   '--batch-size', '4', '--timesteps', '30'],
    'dalle': ['--dataset', 'shapes', '--steps', '2', '--dvae-steps', '2', '--n-train', '64',
              '--captions', '4', '--candidates', '2', '--num-codes', '8', '--d-model', '16',
              '--layers', '1', '--batch-size', '4', '--clip-steps', '1', '--clip-n-train', '64',
              '--clip-batch-size', '8', '--clip-width', '4'],
    'unclip': ['--dataset', 'shapes', '--steps', '2', '--prior-steps', '2', '--n-train', '64',
               '--samples', '4', '--base-channels', '8', '--prior-width', '16',
               '--sample-steps', '2', '--batch-size', '4', '--clip-steps', '1',
               '--clip-n-train', '64', '--clip-batch-size', '8', '--clip-width', '4',
               '--seeds', '2'],
    'clip_guidance': ['--dataset', 'shapes', '--steps', '2', '--batch-size', '4',
                      '--base-channels', '8', '--n-train', '64', '--clip-steps', '1',
                      '--clip-n-train', '64', '--clip-batch-size', '8', '--clip-width', '4',
                      '--samples', '4', '--sample-steps', '2', '--scales', '10'],
}
TRAINING = ('autoencoder', 'cgan', 'clip', 'clip_guidance', 'controlnet', 'cyclegan', 'dalle',
            'dcgan', 'ddpm', 'diffusion_2d', 'dino', 'ebm', 'fit_mlp', 'flow', 'gan_2d', 'pix2pix',
            'pixelcnn', 'simclr', 'stylegan', 'text2img', 'unclip', 'vae', 'vqvae')
DEMOS = TRAINING + ('evaluate', 'trilemma')
HAS_MNIST = any(os.path.exists(os.path.join(MNIST_ROOT, f't10k-images-idx3-ubyte{gz}'))
                for gz in ('', '.gz'))


def test_every_demo_with_a_main_is_listed():
    folder = os.path.join(os.path.dirname(__file__), '..', '..', 'demos')
    with_main = {name[:-3] for name in os.listdir(folder) if name.endswith('.py')
                 and re.search(r'^def main\(', open(os.path.join(folder, name)).read(), re.M)}
    assert with_main == set(DEMOS)


@pytest.mark.parametrize('name', DEMOS)
def test_help_lists_the_common_flags(name, capsys):
    main = importlib.import_module(f'demos.{name}').main
    with pytest.raises(SystemExit) as done:
        main(['--help'])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert re.search(r'--dataset \{[^}]+\}', text), f'{name}: --dataset without its choices'
    for flag in ('--device', '--seed', '--out') + (('--preset', '--resume') if name in TRAINING
                                                     else ()):
        assert re.search(rf'(^|\s){flag}\b', text), f'{name}: no {flag} in --help'
    if name in TRAINING:
        assert re.search(r'--preset \{[^}]*quick[^}]*\}', text)


@pytest.mark.parametrize('name', DEMOS)
def test_a_bad_flag_value_is_refused_before_any_work(name, tmp_path, capsys):
    main = importlib.import_module(f'demos.{name}').main
    with pytest.raises(SystemExit) as done:
        main(['--dataset', 'nope', '--out', str(tmp_path / 'out')])
    assert done.value.code == 2
    assert 'invalid choice' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('name', sorted(TINY))
def test_tiny_run_writes_samples_png_metrics_and_checkpoint(name, tmp_path):
    args = TINY[name]
    if 'mnist' in args and not HAS_MNIST:
        pytest.skip(f'MNIST test set not found in {MNIST_ROOT}')
    importlib.import_module(f'demos.{name}').main(args + ['--out', str(tmp_path)])
    samples = np.load(tmp_path / 'samples.npy')
    assert samples.dtype == np.float32 and samples.ndim == 4 and samples.shape[1] in (1, 3)
    assert len(samples) >= 1 and samples.shape[2] >= 8 and samples.shape[3] >= 8
    assert np.isfinite(samples).all() and samples.min() >= 0 and samples.max() <= 1
    assert any(f.endswith('.png') for f in os.listdir(tmp_path))
    assert isinstance(json.loads((tmp_path / 'metrics.json').read_text()), dict)
    ckpt = minigen.load(tmp_path / 'checkpoint.npz')
    assert {'step', 'config', 'state', 'rng'} <= set(ckpt)  # conventions.save_checkpoint


def demo_parser(name, monkeypatch):
    """The argparse parser demos.NAME builds, caught at its parse_args call."""
    import argparse

    class Caught(Exception):
        pass
    caught = []

    def catch(self, *args, **kwargs):
        caught.append(self)
        raise Caught
    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', catch)
    with pytest.raises(Caught):
        importlib.import_module(f'demos.{name}').main([])
    monkeypatch.undo()
    return caught[0]


# Flags whose every integer or float is meaningful: the seed, and text2img's guidance.
ANY_NUMBER = {'--seed', '--guidance'}


@pytest.mark.parametrize('name', DEMOS)
def test_every_numeric_flag_is_checked_at_parse_time(name, monkeypatch, tmp_path, capsys):
    """No bare int/float flag (0 batch size, negative samples...) reaches the run: each goes
    through a conventions type that refuses what is out of range (exit status 2) before any
    work, and 'not given' is None, never a falsy 0."""
    from demos import conventions
    ap = demo_parser(name, monkeypatch)
    numeric = [a for a in ap._actions if a.type is not None and a.option_strings]
    unchecked = [a.option_strings[0] for a in numeric if a.type in (int, float)
                 and a.option_strings[0] not in ANY_NUMBER]
    assert not unchecked, f'demos.{name}: unchecked numeric flags {unchecked}'
    main = importlib.import_module(f'demos.{name}').main
    for action in numeric:
        if action.type is conventions.positive_int:
            flag = action.option_strings[0]
            with pytest.raises(SystemExit) as done:
                main([flag, '0', '--out', str(tmp_path / 'out')])
            assert done.value.code == 2, flag
            assert f'argument {flag}: must be a positive integer, got 0' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('name', ['autoencoder', 'vae', 'vqvae', 'flow', 'pixelcnn', 'ddpm',
                                  'diffusion_2d'])
def test_steps_zero_without_resume_is_refused_before_any_work(name, tmp_path, capsys):
    """--steps 0 only evaluates or samples a saved run: without --resume there is none."""
    main = importlib.import_module(f'demos.{name}').main
    with pytest.raises(SystemExit) as done:
        main(['--steps', '0', '--out', str(tmp_path / 'out')])
    assert done.value.code == 2
    assert '--steps must be positive (0 only with --resume, to ' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


def test_the_device_flag_wins_over_minigen_device(monkeypatch, tmp_path):
    """MINIGEN_DEVICE=cuda makes cuda the engine's default device; `--device cpu` must win
    before anything is built, or the modules are made on the GPU (or fail without one)."""
    from autograd import backend
    import demos.diffusion_2d as demo
    monkeypatch.setattr(backend, '_default_device', 'cuda')  # what MINIGEN_DEVICE=cuda sets
    built_on = []
    init = demo.Denoiser.__init__

    def record(self, *args, **kwargs):
        built_on.append(backend.get_default_device())
        init(self, *args, **kwargs)
    monkeypatch.setattr(demo.Denoiser, '__init__', record)
    demo.main(['--device', 'cpu', '--steps', '2', '--batch-size', '8', '--samples', '10',
               '--out', str(tmp_path)])
    assert built_on == ['cpu'] and backend.get_default_device() == 'cpu'
