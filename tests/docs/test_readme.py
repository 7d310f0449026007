"""The README's reading path names files that exist: each stop is one file (or a few beside
it), and a move that forgets the README fails here. A bare name (`linear.py`) is read in
the folder of the last full path before it in the same stop; `demos.NAME` is a module."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def reading_path_stops():
    text = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    section = text.split('## Reading path', 1)[1].split('\n## ', 1)[0]
    return re.split(r'\n(?=\d+\. )', section)


def named_files(stop):
    """The repository paths a stop names, resolved as a reader would."""
    folder, paths = '', []
    for token in re.findall(r'`([^`\s]+\.py)`', stop):
        if '/' in token:
            folder = os.path.dirname(token)
            paths.append(token)
        else:
            paths.append(os.path.join(folder, token))
    return paths


def test_the_reading_path_has_the_stops_in_order():
    numbers = [int(m) for m in re.findall(r'^(\d+)\. ', '\n'.join(reading_path_stops()), re.M)]
    assert len(numbers) > 20
    assert numbers == list(range(1, len(numbers) + 1))


def test_every_file_on_the_reading_path_exists():
    missing = [p for stop in reading_path_stops() for p in named_files(stop)
               if not os.path.isfile(os.path.join(ROOT, p))]
    assert not missing, f"README reading path names files that do not exist: {missing}"


def test_every_family_package_is_on_the_reading_path():
    named = {p for stop in reading_path_stops() for p in named_files(stop)}
    families = {d for d in os.listdir(os.path.join(ROOT, 'minigen'))
                if os.path.isfile(os.path.join(ROOT, 'minigen', d, '__init__.py'))}
    families -= {'nn', 'optim', 'data', 'viz', 'metrics'}  # the layers under every family
    assert {'autoencoders', 'autoregressive', 'flows', 'gans', 'contrastive', 'energy',
            'diffusion'} <= families
    for family in sorted(families):
        modules = [f for f in os.listdir(os.path.join(ROOT, 'minigen', family))
                   if f.endswith('.py') and f != '__init__.py']
        unread = [m for m in modules if f'minigen/{family}/{m}' not in named]
        assert not unread, f"minigen/{family} files missing from the README's reading path: {unread}"
