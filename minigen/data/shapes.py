"""Shapes: a procedural, captioned image set (the project's built-in data).

Every image holds one object (or, with probability `two_object_prob`, two) with four
known attributes, and an English caption that names them:

    shape     circle, square, triangle, diamond, cross
    color     red, orange, yellow, green, cyan, blue, purple, white
    size      small, large
    position  top left, top, top right, left, center, right, bottom left, bottom, bottom right

    "a large red circle in the top left"
    "a small blue square on the right and a large white cross at the bottom"

The images are drawn for the whole batch at once. Each shape is a signed distance
function (SDF) sdf(p) of the point p in the object's own frame, negative inside
(Quilez, "2D distance functions", iquilezles.org): with centre c, rotation theta and
size r, a pixel centre u has local coordinates p = R(-theta) (u - c), and its coverage
(the fraction of the pixel inside the shape, which anti-aliases the edge) is

    alpha(u) = clip(0.5 - sdf(p) / pixel, 0, 1),        pixel = 1 / image size,

so the object is composited over the background as  x <- (1 - alpha) x + alpha rgb.
Coordinates are in units of the image width, y pointing down. A centre is its position's
cell centre (x, y in {0.25, 0.5, 0.75}) plus a little jitter, pulled in where needed so
the whole shape stays inside the image. No loop runs over pixels; one runs over the five
shape kinds.

The attributes are integer labels (indices into VOCAB), so a classifier trained on
them measures how often a generated image shows what its caption asked for.

With `with_masks=True` the data also carry each image's silhouette and outline, the
paired inputs of image-to-image translation (pix2pix) and of spatial control (ControlNet):

    mask(u)    = 1 - prod_objects (1 - alpha(u))    the objects' coverage, the same alpha
                                                    they were composited with (one object:
                                                    image = (1 - mask) background + mask rgb)
    outline(u) = S(u) and not (S(u+e_x) and S(u-e_x) and S(u+e_y) and S(u-e_y))
                                                    S = [mask >= 1/2] (the pixel centre lies
                                                    inside, sdf <= 0): the silhouette's pixels
                                                    with a 4-neighbour outside it, its boundary
Both are array shifts over the whole batch, no loop over pixels.
"""
from typing import NamedTuple

import numpy as np

SHAPES = ('circle', 'square', 'triangle', 'diamond', 'cross')
COLORS = ('red', 'orange', 'yellow', 'green', 'cyan', 'blue', 'purple', 'white')
SIZES = ('small', 'large')
POSITIONS = ('top left', 'top', 'top right', 'left', 'center', 'right',
             'bottom left', 'bottom', 'bottom right')
VOCAB = {'shape': SHAPES, 'color': COLORS, 'size': SIZES, 'position': POSITIONS}

RGB = np.array([[0.90, 0.15, 0.15], [1.00, 0.55, 0.10], [0.95, 0.88, 0.15], [0.20, 0.72, 0.25],
                [0.15, 0.80, 0.85], [0.20, 0.35, 0.95], [0.62, 0.30, 0.85], [0.95, 0.95, 0.95]],
               dtype=np.float32)
PHRASES = ('in the top left', 'at the top', 'in the top right', 'on the left', 'in the center',
           'on the right', 'in the bottom left', 'at the bottom', 'in the bottom right')
# Position index -> (x, y) centre of its cell in a 3x3 grid; sizes -> range of r.
CENTERS = np.array([(x, y) for y in (0.25, 0.5, 0.75) for x in (0.25, 0.5, 0.75)], dtype=np.float32)
RADII = np.array([(0.10, 0.13), (0.18, 0.22)], dtype=np.float32)
EXTENT = np.array([1.0, 1.1, 1.3, 1.2, 1.1], dtype=np.float32)  # reach of each shape / r
JITTER, MAX_ANGLE = 0.03, 0.25   # centre jitter (image widths), rotation (radians)
WORDS = tuple(sorted({w for phrase in (*SHAPES, *COLORS, *SIZES, *PHRASES, 'a and')
                      for w in phrase.split()}))


class ShapesData(NamedTuple):
    images: np.ndarray  # (N, 3, H, W) float32 in [0, 1]
    attrs: dict         # 'shape', 'color', 'size', 'position' -> (N,) int64; the second
                        # object's under 'shape_2', ... (-1 where there is none); 'n_objects'
    captions: list      # N strings
    vocab: dict         # attribute -> tuple of value names (VOCAB)
    masks: np.ndarray = None     # (N, 1, H, W) float32 coverage in [0, 1] (with_masks=True)
    outlines: np.ndarray = None  # (N, 1, H, W) float32 in {0, 1}: the silhouette's boundary

    def take(self, rows):
        """The rows `rows` (integer indices), masks and outlines too when there are any."""
        return ShapesData(self.images[rows], {k: v[rows] for k, v in self.attrs.items()},
                          [self.captions[i] for i in rows], self.vocab,
                          None if self.masks is None else self.masks[rows],
                          None if self.outlines is None else self.outlines[rows])


def caption(shape, color, size, position):
    """'a large red circle in the top left', from attribute indices or names."""
    names = [v if isinstance(v, str) else VOCAB[k][int(v)]
             for k, v in zip(VOCAB, (shape, color, size, position))]
    return f"a {names[2]} {names[1]} {names[0]} {PHRASES[POSITIONS.index(names[3])]}"


def _box(px, py, bx, by):
    """SDF of the axis-aligned box |x| <= bx, |y| <= by."""
    dx, dy = np.abs(px) - bx, np.abs(py) - by
    return np.hypot(np.maximum(dx, 0), np.maximum(dy, 0)) + np.minimum(np.maximum(dx, dy), 0)


def _sdf(kind, px, py, r):
    """Signed distance to shape `kind` of size r at the origin (px, py, r broadcast)."""
    if kind == 'circle':
        return np.hypot(px, py) - r
    if kind == 'square':
        return _box(px, py, 0.82 * r, 0.82 * r)
    if kind == 'cross':  # union of two bars: min of their SDFs (exact outside)
        return np.minimum(_box(px, py, r, 0.36 * r), _box(px, py, 0.36 * r, r))
    if kind == 'diamond':  # rhombus with half-diagonals (bx, by): distance to its edge line
        bx, by = 0.78 * r, 1.15 * r
        return (np.abs(px) * by + np.abs(py) * bx - bx * by) / np.hypot(bx, by)
    # triangle: equilateral, half side b, pointing up (y down), centroid at the origin
    k, b = np.sqrt(3.0), 1.1 * r
    qx, qy = np.abs(px) - b, -py + b / k
    fold = qx + k * qy > 0                      # reflect into the region nearest one edge
    qx, qy = np.where(fold, (qx - k * qy) / 2, qx), np.where(fold, (-k * qx - qy) / 2, qy)
    qx = qx - np.clip(qx, -2 * b, 0)
    return -np.hypot(qx, qy) * np.sign(qy)


def _draw_objects(rng, n):
    """Attributes, centres, sizes and angles of n objects (all independent)."""
    shape, color = rng.integers(len(SHAPES), size=n), rng.integers(len(COLORS), size=n)
    size, position = rng.integers(len(SIZES), size=n), rng.integers(len(POSITIONS), size=n)
    lo, hi = RADII[size].T
    r = lo + (hi - lo) * rng.random(n, dtype=np.float32)
    margin = (EXTENT[shape] * r + 0.01)[:, None]  # keep the whole shape inside the image
    center = np.clip(CENTERS[position] + rng.uniform(-JITTER, JITTER, (n, 2)).astype(np.float32),
                     margin, 1 - margin)
    angle = rng.uniform(-MAX_ANGLE, MAX_ANGLE, n).astype(np.float32)
    return dict(shape=shape, color=color, size=size, position=position,
                center=center, r=r, angle=angle)


def backgrounds(rng, n, size, texture=0.06):
    """n empty backgrounds (n, 3, size, size) as make_shapes draws them: a dark, slightly
    tinted colour plus a gradient and two random waves of amplitude up to `texture` (0
    gives plain backgrounds); `rng` a numpy Generator. (DINO's background swap draws its
    bank with it.)"""
    u = (np.arange(size, dtype=np.float32) + 0.5) / size
    gray = rng.uniform(0.08, 0.32, (n, 1, 1, 1)) + rng.uniform(-0.04, 0.04, (n, 3, 1, 1))
    amp = texture * rng.random((n, 1, 1, 1))
    theta, freq, phase = (rng.uniform(0, np.pi, (n, 2)), rng.uniform(2, 8, (n, 2)),
                          rng.uniform(0, 2 * np.pi, (n, 2)))
    pattern = (u[None, :, None] - 0.5) * rng.uniform(-1, 1, (n, 1, 1))   # gradient in y
    for j in range(2):
        along = (np.cos(theta[:, j, None, None]) * u[None, None, :]
                 + np.sin(theta[:, j, None, None]) * u[None, :, None])
        pattern = pattern + 0.5 * np.sin(2 * np.pi * freq[:, j, None, None] * along
                                         + phase[:, j, None, None])
    return (gray + amp * pattern[:, None]).astype(np.float32)


def _paint(images, obj, rows, rng, masks=None):
    """Composite the objects `obj` (one per row in `rows`) onto `images` in place, and
    add their coverage to `masks` (N, 1, H, W) if given: m <- 1 - (1 - m)(1 - alpha)."""
    size = images.shape[-1]
    u = (np.arange(size, dtype=np.float32) + 0.5) / size
    rgb = np.clip(RGB[obj['color']] + rng.uniform(-0.04, 0.04, (len(rows), 3)), 0, 1)
    for k, kind in enumerate(SHAPES):
        sel = np.flatnonzero(obj['shape'] == k)
        if sel.size == 0:
            continue
        cx, cy = obj['center'][sel, 0, None, None], obj['center'][sel, 1, None, None]
        cos, sin = np.cos(obj['angle'][sel])[:, None, None], np.sin(obj['angle'][sel])[:, None, None]
        dx, dy = u[None, None, :] - cx, u[None, :, None] - cy
        px, py = cos * dx + sin * dy, -sin * dx + cos * dy        # p = R(-theta)(u - c)
        alpha = np.clip(0.5 - _sdf(kind, px, py, obj['r'][sel, None, None]) * size, 0, 1)
        alpha = alpha[:, None].astype(np.float32)
        images[rows[sel]] = (1 - alpha) * images[rows[sel]] + alpha * rgb[sel, :, None, None]
        if masks is not None:
            masks[rows[sel]] = 1 - (1 - masks[rows[sel]]) * (1 - alpha)


def outline(masks):
    """The boundary of the silhouettes S = [masks >= 1/2] (N, 1, H, W): pixels of S with a
    4-neighbour outside S (the image's border counts as outside). Float32 in {0, 1}."""
    inside = np.pad(masks >= 0.5, ((0, 0), (0, 0), (1, 1), (1, 1)))
    centre = inside[..., 1:-1, 1:-1]
    interior = (centre & inside[..., :-2, 1:-1] & inside[..., 2:, 1:-1]
                & inside[..., 1:-1, :-2] & inside[..., 1:-1, 2:])
    return (centre & ~interior).astype(np.float32)


def _overlap(a, b):
    """Whether two objects' bounding circles (radius 1.3 r covers every shape) touch."""
    gap = np.hypot(*(a['center'] - b['center']).T)
    return gap < 1.3 * (a['r'] + b['r']) + 0.02


def make_shapes_of_sizes(n, sizes=SIZES, size=32, seed=0, oversample=1.2):
    """n single-object images (make_shapes) whose objects have one of `sizes` (names from
    SIZES): about n / share * oversample + 64 are drawn and the first n that qualify kept."""
    keep = [SIZES.index(s) for s in sizes]
    data = make_shapes(int(n * (len(SIZES) / len(keep)) * oversample) + 64, size=size, seed=seed)
    return data.take(np.flatnonzero(np.isin(data.attrs['size'], keep))[:n])


def make_shapes(n, size=32, seed=0, two_object_prob=0.0, texture=0.06, with_masks=False):
    """n captioned shape images of size x size pixels, deterministic in `seed`.

    With probability `two_object_prob` an image holds a second object that does not
    touch the first (the pair is redrawn until it fits). `texture` is the largest
    amplitude of the background's waves. Returns ShapesData(images, attrs, captions, vocab,
    masks, outlines); masks and outlines are None unless `with_masks` (the images, labels
    and captions do not depend on it).
    """
    if not (isinstance(n, (int, np.integer)) and n >= 0):
        raise ValueError(f"make_shapes: n must be a non-negative int, got {n!r}")
    if not (isinstance(size, (int, np.integer)) and size >= 8):
        raise ValueError(f"make_shapes: size must be an int >= 8 pixels, got {size!r}")
    if not 0.0 <= two_object_prob <= 1.0 or not 0.0 <= texture <= 0.5:
        raise ValueError(f"make_shapes: need 0 <= two_object_prob <= 1 and 0 <= texture <= 0.5, "
                         f"got {two_object_prob!r} and {texture!r}")
    rng = np.random.default_rng(seed)
    first = _draw_objects(rng, n)
    two = rng.random(n) < two_object_prob
    second = _draw_objects(rng, n)
    bad = np.flatnonzero(two & _overlap(first, second))
    while bad.size:  # redraw both objects of the pairs that touch
        for obj in (first, second):
            redo = _draw_objects(rng, bad.size)
            for key in obj:
                obj[key][bad] = redo[key]
        bad = bad[_overlap({k: v[bad] for k, v in first.items()},
                           {k: v[bad] for k, v in second.items()})]
    images = backgrounds(rng, n, size, texture)
    masks = np.zeros((n, 1, size, size), np.float32) if with_masks else None
    _paint(images, first, np.arange(n), rng, masks)
    _paint(images, {k: v[two] for k, v in second.items()}, np.flatnonzero(two), rng, masks)
    np.clip(images, 0, 1, out=images)

    attrs = {k: first[k].astype(np.int64) for k in VOCAB}
    attrs.update({f'{k}_2': np.where(two, second[k], -1).astype(np.int64) for k in VOCAB})
    attrs['n_objects'] = 1 + two.astype(np.int64)
    captions = [caption(*(first[k][i] for k in VOCAB))
                + (' and ' + caption(*(second[k][i] for k in VOCAB)) if two[i] else '')
                for i in range(n)]
    if not with_masks:
        return ShapesData(images, attrs, captions, VOCAB)
    return ShapesData(images, attrs, captions, VOCAB, masks, outline(masks))
