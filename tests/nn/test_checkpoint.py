"""Checkpoints: round trips of nested dicts, a resumed training run that matches an
uninterrupted one step for step, atomic writes, and every way a file can be wrong."""
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import autograd as ag
import minigen
import minigen.nn as nn
import minigen.optim as optim
from autograd import backend


def test_round_trip_keeps_nesting_arrays_numbers_strings_and_key_types(tmp_path, device):
    obj = {'model': {'w': ag.randn(2, 3, device=device), 'b': np.arange(3, dtype=np.int64)},
           'optimizer': {'state': {0: {'step': 4, 'exp_avg': np.float32([1.5])}},
                         'param_groups': [{'lr': 1e-3, 'betas': (0.9, 0.999), 'params': [0]}]},
           'step': 12, 'note': 'ünïcode', 'flags': [True, None, np.float64(2.5)],
           'scalar': np.array(3.0), 'mask': np.array([True, False]), 'empty': {},
           'rng': backend.get_rng_state()}
    path = tmp_path / 'ckpt.npz'
    minigen.save(obj, path)
    back = minigen.load(path)
    assert set(back) == set(obj)
    np.testing.assert_array_equal(back['model']['w'], obj['model']['w'].numpy())
    assert back['model']['w'].dtype == np.float32 and isinstance(back['model']['w'], np.ndarray)
    assert back['model']['b'].dtype == np.int64
    assert list(back['optimizer']['state']) == [0]  # an int key stays an int
    assert back['optimizer']['state'][0]['step'] == 4
    assert back['optimizer']['param_groups'] == [{'lr': 1e-3, 'betas': (0.9, 0.999), 'params': [0]}]
    assert isinstance(back['optimizer']['param_groups'][0]['betas'], tuple)  # not a list
    assert back['note'] == 'ünïcode' and back['flags'] == [True, None, 2.5]
    assert back['scalar'].shape == () and back['mask'].dtype == np.bool_ and back['empty'] == {}
    assert back['rng']['cpu'] == obj['rng']['cpu']
    if 'cuda' in obj['rng']:  # the GPU generator's bytes, once it exists
        np.testing.assert_array_equal(back['rng']['cuda'], obj['rng']['cuda'])
    with np.load(path) as npz:  # a plain .npz: numpy reads the arrays by their paths
        assert 'model/w' in npz.files and 'optimizer/state/0/exp_avg' in npz.files


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 16), nn.SiLU(), nn.Dropout(0.3), nn.Linear(16, 2))

    def forward(self, x):
        return self.net(x)


def train(model, opt, sched, ema, steps):
    """Steps whose data and dropout masks both come from the engine's generator."""
    for _ in range(steps):
        x = ag.randn(8, 3)
        loss = ((model(x) - x[:, :2]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        ema.update()


def setup(seed):
    ag.manual_seed(seed)
    model = MLP()
    opt = optim.AdamW(model.parameters(), lr=0.05)
    return model, opt, optim.LambdaLR(opt, optim.cosine_with_warmup(2, 6)), optim.EMA(model, 0.9)


def test_resumed_training_matches_an_uninterrupted_run_step_for_step(tmp_path):
    model, opt, sched, ema = setup(0)
    train(model, opt, sched, ema, 6)

    model2, opt2, sched2, ema2 = setup(0)
    train(model2, opt2, sched2, ema2, 3)
    minigen.save({'model': model2.state_dict(), 'optimizer': opt2.state_dict(),
                  'scheduler': sched2.state_dict(), 'ema': ema2.state_dict(), 'step': 3,
                  'rng': backend.get_rng_state()}, tmp_path / 'run.npz')
    ag.randn(100)  # the generator moves on; loading must bring it back

    model3, opt3, sched3, ema3 = setup(1)  # a fresh run, other weights
    ckpt = minigen.load(tmp_path / 'run.npz')
    model3.load_state_dict(ckpt['model'])
    opt3.load_state_dict(ckpt['optimizer'])
    sched3.load_state_dict(ckpt['scheduler'])
    ema3.load_state_dict(ckpt['ema'])
    backend.set_rng_state(ckpt['rng'])
    assert ckpt['step'] == 3
    train(model3, opt3, sched3, ema3, 3)

    for (name, p), q in zip(model.named_parameters(), model3.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
    for name in ema.shadow:
        np.testing.assert_array_equal(ema.shadow[name], ema3.shadow[name], err_msg=name)
    assert opt3.param_groups[0]['lr'] == opt.param_groups[0]['lr']


def test_saving_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / 'ckpt.npz'
    minigen.save({'step': 1}, path)
    minigen.save({'step': 2}, path)  # replaced whole
    assert minigen.load(path) == {'step': 2}
    with pytest.raises(TypeError, match="minigen.save: cannot store 'model/ids' of type set"):
        minigen.save({'model': {'ids': {1, 2}}}, path)
    assert minigen.load(path) == {'step': 2}  # the failed save left the old file alone
    assert os.listdir(tmp_path) == ['ckpt.npz']


def test_keys_stored_under_one_name_or_the_header_s_are_refused_before_writing(tmp_path):
    """{1: a, '1': b} would store both arrays as '1' (b read back twice), and a key
    '__minigen__' would overwrite the header: a good checkpoint replaced by an unreadable one."""
    path = tmp_path / 'ckpt.npz'
    minigen.save({'step': 1}, path)
    with pytest.raises(TypeError, match=r"keys 1 and '1' at 'model' are the same name"):
        minigen.save({'model': {1: np.zeros(2), '1': np.ones(2)}}, path)
    with pytest.raises(TypeError, match=r"key '__minigen__' at '/' is reserved"):
        minigen.save({'__minigen__': np.zeros(3), 'step': 2}, path)
    with pytest.raises(TypeError, match=r"key '__minigen__' at 'a' is reserved"):
        minigen.save({'a': {'__minigen__': 1}}, path)
    assert minigen.load(path) == {'step': 1} and os.listdir(tmp_path) == ['ckpt.npz']


def test_tuples_come_back_as_tuples_and_lists_as_lists(tmp_path):
    minigen.save({'t': (1, (2.5, 'a'), [3]), 'l': [1, (2,)], 'e': ()}, tmp_path / 'c.npz')
    back = minigen.load(tmp_path / 'c.npz')
    assert back == {'t': (1, (2.5, 'a'), [3]), 'l': [1, (2,)], 'e': ()}
    assert type(back['t'][1]) is tuple and type(back['t'][2]) is list
    assert type(back['l'][1]) is tuple


def test_a_save_removes_temporaries_left_by_killed_saves_of_the_same_checkpoint(tmp_path):
    """A save killed mid-write leaves CKPT.<pid>.<random>.tmp; the next save of CKPT deletes
    those of processes that are gone, and leaves a running save's and other files' alone."""
    import subprocess
    import sys
    gone = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = [f'ckpt.npz.{gone}.a1b2c3d4.tmp', f'ckpt.npz.{gone}.zz_99xy.tmp']
    kept = [f'ckpt.npz.{os.getpid()}.q1w2e3r4.tmp', f'other.npz.{gone}.a1b2c3d4.tmp', 'notes.tmp']
    for name in stale + kept:
        (tmp_path / name).write_bytes(b'PK' + bytes(100))
    minigen.save({'step': 1}, tmp_path / 'ckpt.npz')
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ['ckpt.npz'])


def test_save_refuses_what_it_could_not_load_back(tmp_path):
    path = tmp_path / 'x.npz'
    with pytest.raises(TypeError, match="'bad' is an object array"):
        minigen.save({'bad': np.array([{}, 1], dtype=object)}, path)
    with pytest.raises(TypeError, match=r"key 'a/b' at '/' must be a non-empty str without '/'"):
        minigen.save({'a/b': 1}, path)
    with pytest.raises(TypeError, match='expected a dict, got list'):
        minigen.save([1], path)
    assert not os.listdir(tmp_path)


def write_zip(path, entries):
    with zipfile.ZipFile(path, 'w') as zf:
        for name, a in entries.items():
            with zf.open(name + '.npy', 'w') as f:
                np.lib.format.write_array(f, a, allow_pickle=True)


@pytest.mark.parametrize('case', ['plain npz', 'truncated', 'object array', 'pickle', 'npy',
                                  'newer version', 'missing array', 'random bytes'])
def test_loading_a_file_that_is_not_a_sound_checkpoint_is_a_clear_error(tmp_path, case):
    path = tmp_path / 'bad.npz'
    header = {'format': 'minigen-checkpoint', 'version': 1,
              'tree': {'__dict__': [['w', {'__array__': 'w'}]]}}

    def encoded(h):
        return np.frombuffer(json.dumps(h).encode(), np.uint8)
    if case == 'plain npz':
        np.savez(path, w=np.zeros(3))
        why = "no '__minigen__' entry"
    elif case == 'truncated':
        minigen.save({'w': np.zeros(1000)}, path)
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
        why = 'truncated or corrupted'
    elif case == 'object array':
        write_zip(path, {'__minigen__': encoded(header), 'w': np.array([{}], dtype=object)})
        why = 'pickled Python objects'
    elif case == 'pickle':
        path.write_bytes(pickle.dumps({'w': 1}))
        why = 'pickled Python objects'
    elif case == 'npy':
        np.save(tmp_path / 'bad.npy', np.zeros(3))
        path = tmp_path / 'bad.npy'
        why = 'a single .npy array'
    elif case == 'newer version':
        write_zip(path, {'__minigen__': encoded({**header, 'version': 99}), 'w': np.zeros(1)})
        why = 'version 99; this minigen reads up to 2'
    elif case == 'missing array':
        write_zip(path, {'__minigen__': encoded(header)})
        why = "names the array 'w', which is missing"
    else:
        path.write_bytes(bytes(range(1, 256)) * 4)
        why = 'not a minigen checkpoint: neither an .npz'
    with pytest.raises(ValueError, match=f"minigen.load: .*bad.np[yz] is not a readable minigen "
                                         f"checkpoint: .*{why}"):
        minigen.load(path)


def test_a_checkpoint_of_another_model_fails_to_load_and_changes_nothing(tmp_path):
    minigen.save({'model': nn.Sequential(nn.Linear(3, 5)).state_dict()}, tmp_path / 'c.npz')
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    before = [p.numpy().copy() for p in model.parameters()]
    with pytest.raises(ValueError, match=r'0.weight: checkpoint \(5, 3\), model \(4, 3\)'):
        model.load_state_dict(minigen.load(tmp_path / 'c.npz')['model'])
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)


def test_rng_state_saved_and_restored_replays_the_same_draws(tmp_path, device):
    """On either device: a checkpoint's generator state brings back the same numbers (on a
    GPU this is the cuRAND state that CuPy keeps on the device)."""
    ag.manual_seed(3)
    ag.randn(10, device=device)
    minigen.save({'rng': backend.get_rng_state()}, tmp_path / 'r.npz')
    first = ag.randn(1000, device=device).numpy()
    ag.randn(50, device=device)
    backend.set_rng_state(minigen.load(tmp_path / 'r.npz')['rng'])
    np.testing.assert_array_equal(ag.randn(1000, device=device).numpy(), first)


def test_rng_state_of_older_checkpoints_is_the_cpu_state_alone():
    ag.manual_seed(4)
    old_format = backend.rng('cpu').bit_generator.state
    first = ag.randn(5, device='cpu').numpy()
    backend.set_rng_state(old_format)
    np.testing.assert_array_equal(ag.randn(5, device='cpu').numpy(), first)
