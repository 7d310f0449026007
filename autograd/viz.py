"""viz: a picture of the graph that backward walks.

Every op run in grad mode leaves a record (function.py): the output tensor's `creator`
is the `Function`, whose `_inputs` are the tensors it read; a tensor with no creator is
a leaf. Following `creator -> _inputs` from a tensor, as `run_backward` does, visits
the whole graph behind it. Here that walk is drawn:

    one box per op      its name and its output's shape,
    one box per leaf    its name (if given), its shape, and whether it requires grad,
    an arrow            from each op to each of its inputs: the way the gradient flows
                        when backward runs (dL/dy, then dL/dx by the op's VJP).

A node feeding several ops (a shared subexpression) is one box with several arrows in;
backward sums the gradients it receives there. With `grad_norms=True` each box also
shows |dL/dnode|, the norm of the gradient backward delivers to it, found by one run of
the engine on the graph (nothing is written into `.grad`, the graph is kept).

Layout: the output is row 0 and a node sits one row below its lowest consumer (its
longest distance from the output), so every arrow points down; within a row the nodes
are ordered by the mean position of their consumers, which uncrosses most arrows.
Every step is a loop, never recursion: a chain of 10,000 ops is traced, exported and
drawn (a PNG 720,000 px tall, in a few seconds).

    draw_graph(loss, 'graph.png', names={'x': x, 'w': w})   # a PNG, Pillow only
    to_dot(loss)                                            # text for Graphviz's `dot`
"""
from .backend import array_module
from .creation import ones_like
from .function import run_backward


class Node:
    """One box: an op (`fn` set; `tensor` is its output) or a leaf tensor."""

    def __init__(self, tensor, fn, name):
        self.tensor, self.fn, self.name = tensor, fn, name
        self.inputs = []  # indices of the nodes this one reads (arrows go to them)
        self.depth = 0
        self.grad_norm = None

    def lines(self):
        shape = str(tuple(self.tensor.shape))
        if self.fn is not None:
            text = ([self.name] if self.name else []) + [self.fn.name, shape]
        else:
            constant = self.tensor.size == 1 and not self.tensor.requires_grad
            text = [self.name or (f'{self.tensor.item():.4g}' if constant else 'leaf'), shape,
                    'requires_grad' if self.tensor.requires_grad else 'no grad']
        if self.grad_norm is not None:
            text.append(f'|grad| {self.grad_norm:.3g}')
        return text


def trace(tensor, names=None, grad_norms=False):
    """The graph behind `tensor` as a list of Nodes, the output first, each op and each
    leaf once. `names` maps a name to a tensor (`dict(model.named_parameters())`)."""
    label = {id(t): name for name, t in (names or {}).items()}
    nodes, index = [], {}  # index: id of an op (or of a leaf tensor) -> its position
    todo = []  # nodes whose inputs are still to be visited

    def node_of(t):
        key = id(t.creator if t.creator is not None else t)
        if key not in index:
            index[key] = len(nodes)
            nodes.append(Node(t, t.creator, label.get(id(t))))
            todo.append(index[key])
        return index[key]

    node_of(tensor)
    while todo:  # an explicit stack: each op's inputs become nodes once
        node = nodes[todo.pop()]
        if node.fn is None:
            continue
        if node.fn._inputs is None:
            raise RuntimeError(f"the graph was freed by backward ({node.fn.name}'s inputs are "
                               f"gone): draw it before backward, or call "
                               f"backward(retain_graph=True) first")
        for t in node.fn._inputs:
            i = node_of(t)
            if i not in node.inputs:  # x * x: one arrow
                node.inputs.append(i)
    _assign_depths(nodes)
    if grad_norms:
        _measure_grad_norms(nodes)
    return nodes


def _assign_depths(nodes):
    """depth = the longest path from the output (node 0). Kahn's order: a node is
    placed once all its consumers are, so its depth is final when it is reached."""
    waiting = [0] * len(nodes)  # consumers not yet placed
    for node in nodes:
        for i in node.inputs:
            waiting[i] += 1
    ready = [0]
    while ready:
        node = nodes[ready.pop()]
        for i in node.inputs:
            nodes[i].depth = max(nodes[i].depth, node.depth + 1)
            waiting[i] -= 1
            if waiting[i] == 0:
                ready.append(i)


def _measure_grad_norms(nodes):
    """|dL/dnode| for every node that requires grad: the engine's own loop, run on the
    kept graph with every node as an input (as `autograd.grad` does), .grad untouched."""
    output = nodes[0].tensor
    if not output.requires_grad:
        return
    if output.size != 1:
        raise RuntimeError(f"grad_norms: the output must be a scalar (a loss), this one "
                           f"has shape {output.shape}")
    wanted = [n for n in nodes if n.tensor.requires_grad]
    grads = run_backward([output], [ones_like(output)], inputs=[n.tensor for n in wanted],
                         retain_graph=True)
    for node, g in zip(wanted, grads):
        if g is not None:
            node.grad_norm = float(array_module(g.data).linalg.norm(g.data))


def to_dot(tensor, names=None, grad_norms=False):
    """The graph as Graphviz text: `dot -Tpng graph.dot -o graph.png` draws it."""
    nodes = trace(tensor, names, grad_norms)
    out = ['digraph autograd {', '  node [shape=box, style=filled, fontname="Helvetica"];']
    for i, node in enumerate(nodes):
        text = '\\n'.join(line.replace('"', '\\"') for line in node.lines())
        out.append(f'  n{i} [label="{text}", fillcolor="{_hex(_fill(node))}"];')
    out += [f'  n{i} -> n{j};' for i, node in enumerate(nodes) for j in node.inputs]
    return '\n'.join(out + ['}']) + '\n'


# --- the picture ------------------------------------------------------------------
OP, PARAM, CONSTANT = (214, 230, 245), (253, 222, 188), (236, 236, 236)  # box fills
OUTLINE, ARROW, TEXT = (40, 70, 120), (150, 150, 150), (20, 20, 20)
PAD, GAP_X, GAP_Y, MARGIN, FONT_SIZE = 6, 16, 30, 12, 12


def _fill(node):
    return OP if node.fn is not None else PARAM if node.tensor.requires_grad else CONSTANT


def _hex(rgb):
    return '#' + ''.join(f'{c:02x}' for c in rgb)


def draw_graph(tensor, path=None, names=None, grad_norms=False):
    """The graph behind `tensor` as a PIL image, saved to `path` if given. `names` maps
    names to tensors; `grad_norms=True` writes |d tensor / d node| in each box."""
    from PIL import Image, ImageDraw, ImageFont  # only the picture needs Pillow
    try:
        font = ImageFont.load_default(size=FONT_SIZE)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    nodes = trace(tensor, names, grad_norms)
    measure = ImageDraw.Draw(Image.new('RGB', (1, 1)))
    line_h = FONT_SIZE + 3
    size = [(2 * PAD + max(int(measure.textlength(s, font=font)) for s in n.lines()),
             2 * PAD + line_h * len(n.lines())) for n in nodes]

    # Rows by depth; in each row, order by the mean x of the consumers placed above.
    rows = [[] for _ in range(max(n.depth for n in nodes) + 1)]
    for i, node in enumerate(nodes):
        rows[node.depth].append(i)
    consumers = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        for j in node.inputs:
            consumers[j].append(i)
    x, y, top = [0.0] * len(nodes), [0] * len(nodes), MARGIN
    for row in rows:
        row.sort(key=lambda i: sum(x[c] for c in consumers[i]) / max(1, len(consumers[i])))
        left = 0
        for i in row:
            x[i], y[i] = left + size[i][0] / 2, top
            left += size[i][0] + GAP_X
        for i in row:  # centre the row on the axis x = 0
            x[i] -= (left - GAP_X) / 2
        top += max(size[i][1] for i in row) + GAP_Y
    half_width = max(x[i] + size[i][0] / 2 for i in range(len(nodes)))
    width, height = int(2 * half_width) + 2 * MARGIN, top - GAP_Y + MARGIN
    if width * height > (Image.MAX_IMAGE_PIXELS or float('inf')):
        raise ValueError(f"draw_graph: {len(nodes)} nodes in {len(rows)} rows make a picture "
                         f"of {width} x {height} pixels, past Pillow's limit; write "
                         f"to_dot(tensor) instead and let Graphviz lay it out")
    x = [xi + width / 2 for xi in x]

    image = Image.new('RGB', (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for i, node in enumerate(nodes):  # arrows first, so boxes cover a long one's path
        for j in node.inputs:
            _arrow(draw, (x[i], y[i] + size[i][1]), (x[j], y[j]))
    for i, node in enumerate(nodes):
        w, h = size[i]
        left = round(x[i] - w / 2)
        draw.rectangle([left, y[i], left + w, y[i] + h], fill=_fill(node), outline=OUTLINE)
        for k, line in enumerate(node.lines()):
            draw.text((x[i], y[i] + PAD + k * line_h), line, fill=TEXT, font=font, anchor='ma')
    if path is not None:
        image.save(path)
    return image


def _arrow(draw, start, end, head=6):
    """A line from `start` to `end` with its head at `end`."""
    (x0, y0), (x1, y1) = start, end
    draw.line([start, end], fill=ARROW, width=1)
    length = max(1e-9, ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5)
    ux, uy = (x1 - x0) / length, (y1 - y0) / length  # along the arrow, then across it
    draw.polygon([(x1, y1), (x1 - head * ux - head / 2 * uy, y1 - head * uy + head / 2 * ux),
                  (x1 - head * ux + head / 2 * uy, y1 - head * uy - head / 2 * ux)], fill=ARROW)
