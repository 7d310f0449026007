"""Checkpoints: save and load nested dicts of arrays in one .npz file, never with pickle.

    minigen.save({'model': model.state_dict(), 'optimizer': opt.state_dict(),
                  'ema': ema.state_dict(), 'step': step,
                  'rng': autograd.backend.get_rng_state()}, 'run/ckpt.npz')
    ckpt = minigen.load('run/ckpt.npz')        # the same nesting, arrays as NumPy arrays

An .npz file is a zip archive of .npy files, one per array. Each array is stored under
its path in the nesting, e.g. 'model/conv_in.weight' or 'optimizer/state/0/exp_avg', so
`numpy.load` can read a checkpoint too. Everything else (numbers, strings, booleans,
None, lists, tuples, the RNG state) goes into one JSON header, the entry '__minigen__',
together with the nesting itself, a format marker and a version (2: tuples are kept as tuples;
1 wrote them as lists):

    {"format": "minigen-checkpoint", "version": 2,
     "tree": {"__dict__": [["model", {"__dict__": [["conv_in.weight",
                                                     {"__array__": "model/conv_in.weight"}], ...]}],
                           ["step", 1200], ...]}}

Why not pickle (torch.save's format): unpickling runs code named by the file, so a
downloaded checkpoint could do anything. Here both writing and reading use
allow_pickle=False: an object array can be neither saved nor loaded.

Since every array's path names its entry, two keys of one dict that read the same as text
(1 and '1') and the key '__minigen__' are refused before anything is written.

Writing is atomic: the file is written to a temporary name in the same folder,
CKPT.<pid>.<random>.tmp, and renamed over the target (os.replace), so a crash mid-save
leaves the old checkpoint whole. A save killed mid-write leaves its temporary behind; the
next save of the same checkpoint removes those whose process is gone.
"""
import json
import os
import re
import tempfile
import zipfile

import numpy as np

from autograd import backend
from autograd.tensor import Tensor

FORMAT, VERSION, HEADER = 'minigen-checkpoint', 2, '__minigen__'


def save(obj, path):
    """Write `obj` (nested dicts and lists of Tensors, arrays, numbers, strings) to `path`."""
    if not isinstance(obj, dict):
        raise TypeError(f"minigen.save: expected a dict, got {type(obj).__name__}")
    arrays = {}
    tree = _flatten(obj, '', arrays)
    header = json.dumps({'format': FORMAT, 'version': VERSION, 'tree': tree})
    arrays[HEADER] = np.frombuffer(header.encode('utf-8'), np.uint8)
    folder, name = os.path.split(os.path.abspath(path))
    remove_stale_temporaries(folder, name)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'{name}.{os.getpid()}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            with zipfile.ZipFile(f, 'w') as zf:  # what numpy.savez writes
                for name, a in arrays.items():
                    with zf.open(name + '.npy', 'w', force_zip64=True) as entry:
                        np.lib.format.write_array(entry, a, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def remove_stale_temporaries(folder, name):
    """Delete the temporaries of checkpoint `name` in `folder` (NAME.<pid>.<random>.tmp)
    whose writing process no longer runs: what saves killed mid-write left behind."""
    pattern = re.compile(re.escape(name) + r'\.(\d+)\.[^.]+\.tmp')
    for entry in os.listdir(folder):
        match = pattern.fullmatch(entry)
        if match and not _running(int(match[1])):
            try:
                os.unlink(os.path.join(folder, entry))
            except FileNotFoundError:  # another save removed it first
                pass


def _running(pid):
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _flatten(value, path, arrays):
    """The JSON tree of `value`; its arrays go into `arrays` under their paths."""
    if isinstance(value, dict):
        items, names = [], {}
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool) or '/' in str(k) or k == '':
                raise TypeError(f"minigen.save: key {k!r} at '{path or '/'}' must be a "
                                f"non-empty str without '/', or an int")
            if k == HEADER:
                raise TypeError(f"minigen.save: key {k!r} at '{path or '/'}' is reserved for "
                                f"the checkpoint's own header")
            if str(k) in names:  # both would be stored under one entry name
                raise TypeError(f"minigen.save: keys {names[str(k)]!r} and {k!r} at "
                                f"'{path or '/'}' are the same name in the file; rename one")
            names[str(k)] = k
            items.append([k, _flatten(v, f"{path}/{k}" if path else str(k), arrays)])
        return {'__dict__': items}
    if isinstance(value, (list, tuple)):
        kind = '__tuple__' if isinstance(value, tuple) else '__list__'
        return {kind: [_flatten(v, f"{path}/{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, Tensor):
        value = value.data
    if hasattr(value, 'shape') and hasattr(value, 'dtype') and not isinstance(value, np.generic):
        a = backend.to_numpy(value)
        if a.dtype.hasobject:
            raise TypeError(f"minigen.save: '{path}' is an object array; checkpoints hold "
                            f"only numeric, boolean and string arrays (no pickle)")
        arrays[path] = a
        return {'__array__': path}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"minigen.save: cannot store '{path}' of type {type(value).__name__}; "
                    f"use dicts, lists, Tensors, arrays, numbers and strings")


def load(path):
    """Read a checkpoint written by `save`: the same nesting, arrays as NumPy arrays.
    Anything else (another .npz, a truncated file, pickled objects) raises a ValueError."""
    def fail(why):
        return ValueError(f"minigen.load: {path} is not a readable minigen checkpoint: {why}")
    with open(path, 'rb') as f:
        magic = f.read(6)
    if len(magic) > 1 and magic[0] == 0x80 and 2 <= magic[1] <= 5:  # pickle protocols 2-5
        raise fail("it holds pickled Python objects, which are never loaded (unpickling can "
                   "run code)")
    if not (magic.startswith((b'PK\x03\x04', b'PK\x05\x06')) or magic == b'\x93NUMPY'):
        raise fail(f"not a minigen checkpoint: neither an .npz (zip) archive nor an .npy "
                   f"array (it begins with the bytes {magic!r})")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise fail("a single .npy array, not an .npz archive")
        with npz:
            files = set(npz.files)
            if HEADER not in files:
                raise fail(f"no '{HEADER}' entry (a .npz from elsewhere?)")
            header = json.loads(bytes(npz[HEADER]).decode('utf-8'))
            if header.get('format') != FORMAT:
                raise fail(f"format {header.get('format')!r}")
            if not isinstance(header.get('version'), int) or header['version'] > VERSION:
                raise fail(f"version {header.get('version')!r}; this minigen reads up to {VERSION}")
            arrays = {name: npz[name] for name in files - {HEADER}}
    except FileNotFoundError:
        raise
    except ValueError as e:
        if str(e).startswith('minigen.load'):
            raise
        if 'pickle' in str(e).lower():  # an object array, or a pickle file
            raise fail("it holds pickled Python objects, which are never loaded (unpickling "
                       "can run code)") from None
        raise fail(str(e)) from None
    except (OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError, KeyError) as e:
        raise fail(f"{type(e).__name__}: {e} (truncated or corrupted?)") from None
    used = set()
    obj = _unflatten(header.get('tree'), arrays, used, fail)
    if used != set(arrays):
        raise fail(f"entries not in its header: {sorted(set(arrays) - used)}")
    return obj


def _unflatten(tree, arrays, used, fail):
    if isinstance(tree, dict) and '__dict__' in tree:
        return {k: _unflatten(v, arrays, used, fail) for k, v in tree['__dict__']}
    if isinstance(tree, dict) and '__list__' in tree:
        return [_unflatten(v, arrays, used, fail) for v in tree['__list__']]
    if isinstance(tree, dict) and '__tuple__' in tree:
        return tuple(_unflatten(v, arrays, used, fail) for v in tree['__tuple__'])
    if isinstance(tree, dict) and '__array__' in tree:
        name = tree['__array__']
        if name not in arrays:
            raise fail(f"its header names the array '{name}', which is missing")
        used.add(name)
        return arrays[name]
    if isinstance(tree, dict):
        raise fail(f"unknown entry {sorted(tree)} in its header")
    return tree
