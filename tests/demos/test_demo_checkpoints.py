"""Checkpoints during training (demos/conventions.TrainingCheckpoints), for every demo that
trains: a run killed between two of its saves and resumed with --resume ends bit for bit
where the uninterrupted run ends (weights, optimizer, RNG, histories); SIGTERM and SIGINT
save before stopping; the checkpoint names its demo, and another demo's is refused."""
import importlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minigen
from demos.conventions import TrainingCheckpoints
from tests.demos.test_demo_conventions import HAS_MNIST, MNIST_ROOT, TINY

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Each training demo's tiny run of 4 steps, saved every 2 (text2img keeps its own test).
RUNS = {name: [a for a in args] for name, args in TINY.items() if name != 'text2img'} | {
    'fit_mlp': ['--hidden', '8'],
    'diffusion_2d': ['--batch-size', '16', '--samples', '20'],
    'autoencoder': ['--dataset', 'shapes', '--batch-size', '4', '--latent-dim', '4',
                    '--train-images', '32', '--eval-images', '16'],
    'gan_2d': ['--batch-size', '16', '--width', '8'],
    'simclr': ['--batch-size', '8', '--n-train', '40', '--n-test', '20', '--n-pool', '64',
               '--probe-steps', '2', '--widths', '4', '8'],
    'clip': ['--batch-size', '8', '--n-train', '64', '--n-test', '32', '--widths', '4', '8',
             '--text-width', '8'],
    'dino': ['--batch-size', '4', '--local-crops', '2', '--width', '8', '--depth', '1',
             '--out-dim', '8', '--n-pool', '64', '--n-train', '40', '--n-test', '20',
             '--probe-steps', '2'],
}


def with_steps(args, steps):
    """`args` with --steps `steps` (replaced where given) and a save every 2 steps."""
    args = list(args)
    if '--steps' in args:
        del args[args.index('--steps'):args.index('--steps') + 2]
    if '--steps-2d' in args:  # demos.vae: its 2-D run too
        args[args.index('--steps-2d') + 1] = str(steps)
    return args + ['--steps', str(steps), '--checkpoint-every', '2']


class Killed(Exception):
    """What a SIGKILL does to a run, right after one of its saves during training."""


def assert_same_run(a, b):
    """Two checkpoints of one run: equal step, state, RNG and histories, bit for bit."""
    ka, kb = minigen.load(a), minigen.load(b)
    assert ka['step'] == kb['step'] and ka['demo'] == kb['demo']

    def compare(x, y, where):
        if isinstance(x, dict):
            assert set(x) == set(y), where
            for k in x:
                if 'seconds' not in str(k):  # wall-clock times differ from run to run
                    compare(x[k], y[k], f'{where}/{k}')
        elif isinstance(x, (list, tuple)):
            assert len(x) == len(y), where
            for i, (u, v) in enumerate(zip(x, y)):
                compare(u, v, f'{where}/{i}')
        elif isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=where)
        else:
            assert x == y or (x != x and y != y), where
    for key in ('state', 'rng', 'extra'):
        compare(ka[key], kb[key], key)


@pytest.mark.parametrize('name', sorted(RUNS))
def test_a_run_killed_after_a_save_and_resumed_ends_as_the_uninterrupted_one(
        name, tmp_path, monkeypatch):
    args = with_steps(RUNS[name], 4)
    if 'mnist' in args and not HAS_MNIST:
        pytest.skip(f'MNIST test set not found in {MNIST_ROOT}')
    main = importlib.import_module(f'demos.{name}').main
    main(args + ['--out', str(tmp_path / 'whole')])

    save = TrainingCheckpoints.save

    def save_then_die(self, step, **until):
        save(self, step, **until)
        if until:  # a save during training, not the final one
            raise Killed(step)
    monkeypatch.setattr(TrainingCheckpoints, 'save', save_then_die)
    with pytest.raises(Killed):
        main(args + ['--out', str(tmp_path / 'killed')])
    monkeypatch.setattr(TrainingCheckpoints, 'save', save)
    assert minigen.load(tmp_path / 'killed' / 'checkpoint.npz')['step'] == 2
    main(args + ['--out', str(tmp_path / 'killed'), '--resume'])
    assert_same_run(tmp_path / 'whole' / 'checkpoint.npz', tmp_path / 'killed' / 'checkpoint.npz')


FIT = ['--steps', '600', '--hidden', '8', '--checkpoint-every', '20']


def test_a_process_killed_between_saves_resumes_to_the_uninterrupted_run_bit_for_bit(tmp_path):
    """demos.fit_mlp in a fresh Python, SIGKILLed once its first save is on disk: --resume
    goes on from that save and ends where the uninterrupted run ends."""
    from demos.fit_mlp import main
    killed = subprocess.Popen([sys.executable, '-m', 'demos.fit_mlp', *FIT, '--out',
                               str(tmp_path / 'killed')], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    path = tmp_path / 'killed' / 'checkpoint.npz'
    while not path.exists():
        assert killed.poll() is None, killed.stderr.read()
        time.sleep(0.002)
    killed.kill()
    assert killed.wait(30) == -signal.SIGKILL
    assert 0 < minigen.load(path)['step'] < 600, 'the run was not killed during training'
    main(FIT + ['--out', str(tmp_path / 'killed'), '--resume'])
    main(FIT + ['--out', str(tmp_path / 'whole')])
    assert_same_run(tmp_path / 'whole' / 'checkpoint.npz', path)


@pytest.mark.parametrize('how', [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_save_at_the_end_of_the_step_then_stop(how, tmp_path, monkeypatch,
                                                                   capsys):
    """The signal comes during step 3 (right after the save of step 2): the run saves step 3
    and exits with 128 + the signal's number; --resume then ends as the uninterrupted run."""
    from demos.fit_mlp import main
    args = with_steps(RUNS['fit_mlp'], 6)
    main(args + ['--out', str(tmp_path / 'whole')])
    save = TrainingCheckpoints.save

    def save_then_signal(self, step, **until):
        save(self, step, **until)
        if step == 2:
            os.kill(os.getpid(), how)
    monkeypatch.setattr(TrainingCheckpoints, 'save', save_then_signal)
    before = signal.getsignal(how)  # SIG_IGN for SIGINT in a background job, else the default
    with pytest.raises(SystemExit) as stop:
        main(args + ['--out', str(tmp_path / 'stopped')])
    assert stop.value.code == 128 + how
    assert f'{signal.Signals(how).name} at step 3: saved' in capsys.readouterr().err
    assert minigen.load(tmp_path / 'stopped' / 'checkpoint.npz')['step'] == 3
    assert signal.getsignal(how) is not None and signal.getsignal(how) == before  # restored
    main(args + ['--out', str(tmp_path / 'stopped'), '--resume'])
    assert_same_run(tmp_path / 'whole' / 'checkpoint.npz',
                    tmp_path / 'stopped' / 'checkpoint.npz')


def test_resume_refuses_another_demo_s_checkpoint_by_name(tmp_path):
    """Every checkpoint names the demo that wrote it; --resume with another demo's says so
    (it raised KeyError('dataset') or KeyError('config') from inside the run)."""
    from demos.conventions import save_checkpoint
    from demos.ddpm import main
    save_checkpoint(tmp_path, 4, {'dataset': 'mnist', 'beta': 1.0}, {}, demo='vae')
    with pytest.raises(SystemExit, match=r'checkpoint.npz: this checkpoint was written by '
                                         r'demos.vae, not demos.ddpm'):
        main(TINY['ddpm'] + ['--out', str(tmp_path), '--resume'])
    minigen.save({'model': {'w': np.zeros(2)}}, tmp_path / 'checkpoint.npz')
    with pytest.raises(SystemExit, match=r"is not a demo's checkpoint \(no config, rng, state, "
                                         r"step\)"):
        main(TINY['ddpm'] + ['--out', str(tmp_path), '--resume'])
    main(TINY['ddpm'] + ['--out', str(tmp_path)])
    assert minigen.load(tmp_path / 'checkpoint.npz')['demo'] == 'ddpm'
