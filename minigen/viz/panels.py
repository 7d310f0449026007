"""Pictures side by side, each with a title above it (e.g. one sample grid per guidance
scale or per sampler)."""
from PIL import Image, ImageDraw

from .grid import font


def panels_image(panels, titles, gap=10, pad=22):
    """Pillow images side by side, `gap` pixels apart, each with its title above it."""
    w = sum(p.width for p in panels) + gap * (len(panels) - 1)
    h = max(p.height for p in panels)
    canvas = Image.new('RGB', (w, h + pad), 'white')
    draw, left = ImageDraw.Draw(canvas), 0
    for p, title in zip(panels, titles):
        canvas.paste(p, (left, pad))
        draw.text((left + p.width // 2, 4), title, fill='black', font=font(14), anchor='mt')
        left += p.width + gap
    return canvas


def save_panels(panels, titles, path, **kwargs):
    """panels_image(panels, titles) saved to `path`."""
    panels_image(panels, titles, **kwargs).save(path)
