"""Loss functions, as PyTorch's `torch.nn.functional` defines them.

Each is a few engine ops, chosen so that the composition is numerically stable
(log_softmax and softplus are fused, stable ops) and so that its gradient is
the textbook one:

    mse_loss        (x - y)^2                               d/dx = 2 (x - y)
    l1_loss         |x - y|                                 d/dx = sign(x - y)
    cross_entropy   -sum_c q_c log softmax(x)_c,  q = (1 - eps) onehot(y) + eps / C
                    (label smoothing: Szegedy et al. 2016, arXiv:1512.00567, sec. 7)
                                                            d/dx = softmax(x) - q
                    with class weights w: -sum_c w_c q_c log softmax(x)_c, and
                    'mean' divides by sum_n w_{y_n} (PyTorch's weighted mean)
                                                d/dx = (sum_c w_c q_c) softmax(x) - w q
    binary_cross_entropy_with_logits
                    -y log sigma(x) - (1 - y) log(1 - sigma(x))
                    = max(x, 0) - x y + log(1 + e^-|x|)     d/dx = sigma(x) - y
                    (one fused op: no exp overflows, and for |x| = 100 the first two
                    terms cancel exactly before the tiny third is added)
    kl_div          t (log t - x)  (x holds log-probabilities; 0 where t = 0)
                    or e^t (t - x) with log_target=True
    gaussian_kl     KL(N(mu, sigma^2) || N(0, 1)) = -1/2 sum(1 + log sigma^2 - mu^2 - sigma^2)
                    (Kingma & Welling 2013, arXiv:1312.6114, Appendix B)

`reduction` is 'mean' (over every element; for cross_entropy over the
samples), 'sum' or 'none' (kl_div also has 'batchmean': the sum over the
batch size, the true KL divergence per sample). Arguments after those PyTorch takes
positionally are keyword-only: PyTorch's third and fourth are weight or the deprecated
size_average and reduce, so a positional 'sum' would mean something else there.
"""
from autograd import Function, Tensor, as_tensor, where
from autograd.backend import array_module
from autograd.grad_mode import is_grad_enabled
from autograd.ops.softmax import log_softmax


def _check_reduction(op, reduction, allowed=('mean', 'sum', 'none')):
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {allowed}, got {reduction!r}")


def _reduce(loss, reduction):
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    return loss


def _checked_target(op, input, target, reduction, allowed=('mean', 'sum', 'none')):
    """target as a Tensor like input (a number or array is put on input's device, in its
    dtype), after checking `reduction` and that the shapes agree: before any work."""
    _check_reduction(op, reduction, allowed)
    if not isinstance(target, Tensor):
        target = Tensor(target, dtype=input.dtype, device=input.device)
    if input.shape != target.shape:
        raise ValueError(f"{op}: input {input.shape} and target {target.shape} must have "
                         f"the same shape")
    return target


def mse_loss(input, target, *, reduction='mean'):
    target = _checked_target('mse_loss', input, target, reduction)
    if reduction != 'none' and input.dtype == target.dtype:
        return MSE.apply(input, target, mean=reduction == 'mean')  # = the lines below, as one op
    d = input - target
    return _reduce(d * d, reduction)


class MSE(Function):
    """sum (x - y)^2, divided by the element count n when `mean`: mse_loss's 'mean' and
    'sum' as one op (its lines `d = input - target; (d * d).mean()` cost four ops forward
    and six backward; tests/nn/test_losses.py checks the two agree).
        d/dx = 2 (x - y) / n,   d/dy = -2 (x - y) / n"""

    def forward(self, x, y):
        xp = array_module(x)
        d = xp.asarray(x - y)
        self.n = d.size if self.mean else 1
        d *= d
        return xp.asarray(d.sum() / self.n, dtype=d.dtype)

    def backward(self, g):
        x, y = self.inputs
        gx = (x - y) * (g * (2 / self.n))
        return gx, (-gx if self.needs_input_grad[1] else None)


def l1_loss(input, target, *, reduction='mean'):
    target = _checked_target('l1_loss', input, target, reduction)
    return _reduce((input - target).abs(), reduction)


def cross_entropy(logits, target, weight=None, *, reduction='mean', label_smoothing=0.0):
    """logits (N, C) or (N, C, d1, ...), target integer classes (N) or (N, d1, ...),
    weight None or one number per class (C,), as torch.nn.functional.cross_entropy.
    loss_n = -sum_c w_c q_nc log softmax(logits_n)_c with q = (1 - eps) onehot + eps / C
    (w_c = 1 without weight); 'mean' divides the sum by sum_n w_{target_n}."""
    op = 'cross_entropy'
    _check_reduction(op, reduction)
    xp = array_module(logits.data)
    t = xp.asarray(target.data if isinstance(target, Tensor) else target)
    if logits.ndim < 2 or t.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(f"{op}: logits (N, C, ...) {logits.shape} need target (N, ...) of "
                         f"class indices, got shape {t.shape}")
    if t.dtype.kind not in 'iu':
        raise TypeError(f"{op}: target must hold integer class indices, got {t.dtype}")
    C = logits.shape[1]
    if t.size and (int(t.min()) < 0 or int(t.max()) >= C):
        raise IndexError(f"{op}: target holds classes in [{int(t.min())}, {int(t.max())}] "
                         f"but logits have {C} classes")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if weight is not None:
        if not isinstance(weight, Tensor):
            weight = Tensor(weight, dtype=logits.dtype, device=logits.device)
        if weight.shape != (C,):
            raise ValueError(f"{op}: weight must hold one number per class, shape ({C},), "
                             f"got {weight.shape}")
    if (weight is None and label_smoothing == 0 and logits.ndim == 2 and len(t)
            and reduction != 'none'):  # the plain case as one op: the lines below, fused
        return CrossEntropy.apply(logits, target=t, mean=reduction == 'mean')
    classes = xp.arange(C).reshape((1, C) + (1,) * (t.ndim - 1))
    onehot = (xp.expand_dims(t, 1) == classes).astype(logits.dtype)
    q = as_tensor((1 - label_smoothing) * onehot + label_smoothing / C)
    if weight is not None:
        q = q * weight.reshape((1, C) + (1,) * (t.ndim - 1))             # w_c q_nc
    loss = -(q * log_softmax(logits, axis=1)).sum(axis=1)
    if weight is not None and reduction == 'mean':
        return loss.sum() / weight[t].sum()                              # / sum_n w_{t_n}
    return _reduce(loss, reduction)


class CrossEntropy(Function):
    """sum_n -log softmax(x_n)[t_n] over logits x (N, C) and classes t (N,), divided by N
    when `mean`: cross_entropy's plain case (no weight, no label smoothing) as one op
    instead of the eight of its lines above (tests/nn/test_losses.py checks they agree).
        -log softmax(x)[t] = log sum_c e^(x_c - m) - (x_t - m),   m = max_c x_c
        d/dx = (softmax(x) - onehot(t)) / N
    The forward keeps softmax(x) for the backward."""

    def forward(self, x):
        xp = array_module(x)
        rows = xp.arange(len(x))
        e = x - x.max(axis=1, keepdims=True)                   # x - m
        picked = e[rows, self.target]                          # x_t - m
        xp.exp(e, out=e)
        z = xp.matmul(e, xp.ones(x.shape[1], e.dtype))          # sum_c e^(x_c - m), by BLAS
        self.n = len(x) if self.mean else 1
        loss = (xp.log(z) - picked).sum() / self.n
        if is_grad_enabled():
            e /= z[:, None]
            self.p = e                                         # softmax(x)
        return xp.asarray(loss, dtype=x.dtype)

    def backward(self, g):
        x, = self.inputs
        xp = array_module(x.data)
        onehot = xp.zeros(x.shape, x.dtype)
        onehot[xp.arange(len(x)), self.target] = 1
        if is_grad_enabled():  # create_graph: softmax from recorded ops, differentiable again
            return (x.softmax(1) - Tensor._make(onehot)) * (g / self.n)
        scale = g.data / self.n
        d = self.p * scale                                     # (softmax - onehot) g / N
        d[xp.arange(len(x)), self.target] -= scale
        return Tensor._make(d)


class BCEWithLogits(Function):
    """Pointwise max(x, 0) - x y + log(1 + e^-|x|)."""

    def forward(self, x, y):
        xp = array_module(x)
        return xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, g):  # d/dx = sigma(x) - y, d/dy = -x
        x, y = self.inputs
        return g * (x.sigmoid() - y), -g * x


def binary_cross_entropy_with_logits(input, target, *, reduction='mean'):
    """-y log sigma(x) - (1 - y) log(1 - sigma(x)) for logits x, without overflow."""
    op = 'binary_cross_entropy_with_logits'
    target = _checked_target(op, input, target, reduction)
    return _reduce(BCEWithLogits.apply(input, target), reduction)


def kl_div(input, target, *, reduction='mean', log_target=False):
    """KL(target || model) pointwise, with `input` the model's log-probabilities:
    t (log t - input), taken as 0 where t = 0 (0 log 0 = 0); with log_target,
    target holds log t and the loss is e^t (t - input)."""
    target = _checked_target('kl_div', input, target, reduction,
                             ('mean', 'batchmean', 'sum', 'none'))
    if log_target:
        loss = target.exp() * (target - input)
    else:  # log 1 = 0 stands in for log t where t = 0: no 0 * -inf, no NaN in the gradient
        zero = target.data == 0
        loss = target * (where(zero, 1.0, target).log() - input)
    if reduction == 'batchmean':
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def gaussian_kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over every element:
    -1/2 sum(1 + logvar - mu^2 - exp(logvar)). Divide by the batch size for a
    per-sample VAE loss."""
    if mu.shape != logvar.shape:
        raise ValueError(f"gaussian_kl: mu {mu.shape} and logvar {logvar.shape} must have "
                         f"the same shape")
    return -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()
