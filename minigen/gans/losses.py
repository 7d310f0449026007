"""GAN losses: minimax, non-saturating, hinge, Wasserstein, least squares, the WGAN-GP
gradient penalty and R1. Every loss is written to be MINIMISED, and takes the
discriminator's raw outputs (logits or critic scores), real_logits = D(x) and
fake_logits = D(G(z)).

Minimax (Goodfellow et al. 2014, arXiv:1406.2661, eq. 1), with D(x) = sigmoid(l(x)) and
log sigmoid(l) = -softplus(-l), log(1 - sigmoid(l)) = -softplus(l):
    V(D, G) = E_x log D(x) + E_z log(1 - D(G(z)))
    D minimises  -V = E softplus(-l_real) + E softplus(l_fake)        (binary cross-entropy)
    G minimises   V's second term  E log(1 - D(G(z))) = -E softplus(l_fake)
  For fixed G the best D is D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Prop. 1), and then
  V(D*, G) = -log 4 + 2 JSD(p_data || p_g), whose minimum -log 4 is reached at p_g = p_data
  (Theorem 1).
Non-saturating (same paper, sec. 3): G minimises -E log D(G(z)) = E softplus(-l_fake)
  instead: same fixed point, but a strong gradient when D confidently rejects the fakes,
  where the minimax G loss flattens out (d/dl of -softplus(l) = -sigmoid(l) -> 0).
One-sided label smoothing (Salimans et al. 2016, arXiv:1606.03498, sec. 3.4): D's target
  for real images is 1 - s instead of 1 (fakes keep 0), so its real term becomes the
  cross-entropy -(1 - s) log D(x) - s log(1 - D(x)) = (1 - s) softplus(-l) + s softplus(l),
  minimised at D(x) = 1 - s: D is kept from growing over-confident on the data. Only for the
  sigmoid losses (minimax, non-saturating); G's loss is unchanged.
Hinge (Lim & Ye 2017, arXiv:1705.02894; Miyato et al. 2018, arXiv:1802.05957):
    D: E relu(1 - l_real) + E relu(1 + l_fake);   G: -E l_fake
Wasserstein (Arjovsky, Chintala & Bottou 2017, arXiv:1701.07875): the critic f estimates
    W(p_data, p_g) = sup_{||f||_L <= 1} E f(x) - E f(G(z))
    critic minimises E f(G(z)) - E f(x);   G minimises -E f(G(z))
Least squares (Mao et al. 2017, arXiv:1611.04076, eq. 2 with targets a = 0 for fakes,
  b = c = 1 for reals; CycleGAN's GAN loss): D regresses its raw score to the labels,
    D: E (l_real - 1)^2 + E l_fake^2;   G: E (l_fake - 1)^2
  so fakes on the right side of the boundary but far from the reals are still pulled
  in (the sigmoid loss would be saturated there). lsgan_discriminator_loss and
  lsgan_generator_loss, beside the kinds above.
Gradient penalty (Gulrajani et al. 2017, arXiv:1704.00028, Algorithm 1) keeps f 1-Lipschitz
    x_hat = alpha x + (1 - alpha) x_fake,   alpha ~ U[0, 1] per example
    GP = lambda E (||grad_x_hat f(x_hat)||_2 - 1)^2,   lambda = 10
R1 (Mescheder, Geiger & Nowozin 2018, arXiv:1801.04406, sec. 4.1), on real data only:
    R1 = gamma / 2 E ||grad_x l(x)||^2
Both penalties are functions of a gradient, so their own gradient w.r.t. D's parameters is
a second derivative: ag.grad(..., create_graph=True) keeps the first one differentiable.
"""
import autograd
import minigen.nn.functional as F

KINDS = ('minimax', 'nonsaturating', 'hinge', 'wasserstein')


def _check(fn, kind, *scores):
    if kind not in KINDS:
        raise ValueError(f"gans.losses.{fn}: kind must be one of {KINDS}, got {kind!r}")
    for s in scores:
        if not isinstance(s, autograd.Tensor) or s.ndim != 1:
            raise ValueError(f"gans.losses.{fn}: expected discriminator outputs of shape (N,), "
                             f"got {getattr(s, 'shape', type(s).__name__)}")


def discriminator_loss(real_logits, fake_logits, kind='nonsaturating', smoothing=0.0):
    """The loss D (or the critic) minimises; minimax and non-saturating share it.
    smoothing s: one-sided label smoothing, the real images' target 1 - s (sigmoid kinds)."""
    _check('discriminator_loss', kind, real_logits, fake_logits)
    if not 0 <= smoothing < 1 or (smoothing and kind not in ('minimax', 'nonsaturating')):
        raise ValueError(f"gans.losses.discriminator_loss: smoothing must be in [0, 1), and 0 "
                         f"unless kind is 'minimax' or 'nonsaturating'; got {smoothing!r} "
                         f"with {kind!r}")
    if kind in ('minimax', 'nonsaturating'):  # -E log D(x) - E log(1 - D(G(z)))
        real = F.softplus(-real_logits)
        if smoothing:  # -(1 - s) log D(x) - s log(1 - D(x))
            real = (1 - smoothing) * real + smoothing * F.softplus(real_logits)
        return real.mean() + F.softplus(fake_logits).mean()
    if kind == 'hinge':
        return (1 - real_logits).relu().mean() + (1 + fake_logits).relu().mean()
    return fake_logits.mean() - real_logits.mean()  # wasserstein: -(E f(x) - E f(G(z)))


def generator_loss(fake_logits, kind='nonsaturating'):
    """The loss G minimises, from D's outputs on G's samples."""
    _check('generator_loss', kind, fake_logits)
    if kind == 'minimax':        # E log(1 - D(G(z))): saturates when D rejects the fakes
        return -F.softplus(fake_logits).mean()
    if kind == 'nonsaturating':  # -E log D(G(z))
        return F.softplus(-fake_logits).mean()
    return -fake_logits.mean()   # hinge and wasserstein


def _check_scores(fn, *scores):
    for s in scores:
        if not isinstance(s, autograd.Tensor) or s.ndim != 1:
            raise ValueError(f"gans.losses.{fn}: expected discriminator outputs of shape (N,), "
                             f"got {getattr(s, 'shape', type(s).__name__)}")


def lsgan_discriminator_loss(real_scores, fake_scores):
    """Least squares: E (D(x) - 1)^2 + E D(G(z))^2 (Mao et al. 2017)."""
    _check_scores('lsgan_discriminator_loss', real_scores, fake_scores)
    return ((real_scores - 1) ** 2).mean() + (fake_scores * fake_scores).mean()


def lsgan_generator_loss(fake_scores):
    """Least squares: E (D(G(z)) - 1)^2."""
    _check_scores('lsgan_generator_loss', fake_scores)
    return ((fake_scores - 1) ** 2).mean()


def _input_gradient(critic, x, args):
    """grad_x sum_i critic(x)_i, kept differentiable (create_graph=True). Each output i
    depends only on example i (no batch norm!), so row i is grad of critic(x_i). The
    graph is built even under no_grad(): the penalty's value needs this gradient."""
    with autograd.enable_grad():
        out = critic(x, *args)
        ones = autograd.ones_like(out)  # grad_outputs = 1: the gradient of sum_i out_i
        return autograd.grad(out, x, grad_outputs=ones, create_graph=True)[0]


def gradient_penalty(critic, real, fake, *args, lam=10.0, alpha=None):
    """WGAN-GP: lam E (||grad f(x_hat)||_2 - 1)^2 on x_hat = alpha real + (1 - alpha) fake.

    critic(x, *args) -> (N,) scores (args: e.g. class labels); fake is detached here;
    alpha (N,) defaults to U[0, 1] draws from the engine's generator."""
    if real.shape != fake.shape:
        raise ValueError(f"gans.losses.gradient_penalty: real {real.shape} and fake "
                         f"{fake.shape} must have the same shape")
    n = real.shape[0]
    if alpha is None:
        alpha = autograd.rand(n, device=real.device, dtype=real.dtype)
    alpha = alpha.reshape((n,) + (1,) * (real.ndim - 1))
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).detach().requires_grad_()
    g = _input_gradient(critic, x_hat, args).reshape(n, -1)
    # ||g||_2 = sqrt(sum g^2); the 1e-12 keeps d sqrt finite where g = 0
    norm = ((g * g).sum(axis=1) + 1e-12).sqrt()
    return lam * ((norm - 1) ** 2).mean()


def r1_penalty(discriminator, real, *args, gamma=10.0):
    """R1: gamma / 2 E ||grad_x D(x)||^2 on real data (D's logits)."""
    x = real.detach().requires_grad_()
    g = _input_gradient(discriminator, x, args).reshape(real.shape[0], -1)
    return gamma / 2 * (g * g).sum(axis=1).mean()
