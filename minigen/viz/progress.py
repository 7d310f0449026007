"""A progress bar for every long loop, showing the current loss (a thin tqdm wrapper).

    bar = progress(range(steps), 'train')
    for step in bar:
        loss = ...
        bar.set_postfix(loss=f'{loss.item():.4f}')
"""
from tqdm.auto import tqdm


def progress(iterable, desc=None, total=None, **kwargs):
    """tqdm over `iterable`, labelled `desc`; `set_postfix(loss=...)` shows the loss."""
    return tqdm(iterable, desc=desc, total=total, dynamic_ncols=True, **kwargs)
