"""CLIP guidance: any diffusion sampler steered toward a prompt by the gradient of a CLIP
model's image-text cosine, taken at every step with respect to the image being denoised.

Classifier guidance (Dhariwal & Nichol 2021, "Diffusion Models Beat GANs on Image
Synthesis", arXiv:2105.05233) moves each reverse step along the gradient of a classifier's
log p_phi(y | x_t), with a scale s:

    DDPM, Algorithm 1:  x_{t-1} ~ N(mu + s Sigma grad_{x_t} log p_phi(y | x_t), Sigma)
    DDIM, Algorithm 2:  eps_hat = eps_theta(x_t)
                                  - sqrt(1 - alpha_bar_t) s grad_{x_t} log p_phi(y | x_t)

GLIDE (Nichol et al. 2021, arXiv:2112.10741, Sec. 2.4) puts CLIP in the classifier's
place: with an image encoder f and a caption encoder g,

    mu_hat(x_t | c) = mu(x_t | c) + s Sigma grad_{x_t} (f(x_t) . g(c))

where f, a "noise-aware" CLIP, was trained on noised images x_t. A CLIP trained on clean
images can read the network's prediction of the clean image instead (the practice of the
open CLIP-guided diffusion notebooks). Here the score is the cosine of the normalised
embeddings, on one of the two images:

    target 'x0':  c(x_t) = cos(f(x0_hat(x_t)), g(prompt)),  x0_hat from the network's own
                  output (process.split_prediction), the gradient flowing back through the
                  network to x_t;
    target 'x_t': c(x_t) = cos(f(x_t), g(prompt)), for an f trained on noised images.

Its gradient shifts the predicted noise as Algorithm 2 does,

    eps_hat = eps_theta(x_t) - s sqrt(1 - alpha_bar_t) grad_{x_t} c(x_t),

one rule for both samplers: DDPM's mean mu = (x_t - beta_t eps / sqrt(1 - alpha_bar_t)) /
sqrt(alpha_t) then moves by s beta_t / sqrt(alpha_t) grad c, Algorithm 1's s Sigma grad c
for Sigma = beta_t up to 1 / sqrt(alpha_t) (at most 1.01 on the linear schedule). The
shift delta = eps_hat - eps_theta is added in the network's own output units (x0 and v are
linear in eps at a fixed x_t, process.py; ab = alpha_bar_t):

    eps:  + delta,     x0:  - sqrt(1 - ab) / sqrt(ab) delta,     v:  + delta / sqrt(ab)

(x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab), and v = sqrt(ab) eps - sqrt(1 - ab) x0 moves by
sqrt(ab) delta + (1 - ab) / sqrt(ab) delta = delta / sqrt(ab))

so `CLIPGuidance` wraps the network and is passed to ddpm_sample or ddim_sample in its
place, as guidance.ClassifierFreeGuidance is, and s = 0 adds an exact zero: the unguided
sampler bit for bit.
"""
import autograd
from autograd.tensor import Tensor

from .process import split_prediction, _check_objective

TARGETS = ('x0', 'x_t')


class CLIPGuidance:
    """model(x_t, t, **cond) steered toward prompts by s grad_{x_t} cos(f(image), g(prompt)).

    clip: anything with encode_image(images) -> (B, D) (minigen.contrastive.clip.CLIP);
    text_embeddings: (B, D), the prompt of each sample (normalised here);
    preprocess: a differentiable map from the sampler's image (x0_hat or x_t, in the
        diffusion model's range) to the CLIP's input, e.g. [-1, 1] -> [0, 1] and a resize;
    objective: what the network predicts ('eps', 'x0' or 'v');
    target: 'x0' (the prediction of the clean image) or 'x_t' (a noise-aware CLIP).
    The CLIP's parameters get no gradient: only the image does (autograd.grad).
    """

    def __init__(self, model, schedule, clip, text_embeddings, scale, objective='eps',
                 target='x0', preprocess=None):
        _check_objective(objective, 'CLIPGuidance')
        if target not in TARGETS:
            raise ValueError(f"CLIPGuidance: target must be one of {TARGETS}, got {target!r}")
        if scale < 0:
            raise ValueError(f"CLIPGuidance: the guidance scale must be >= 0, got {scale}")
        if not isinstance(text_embeddings, Tensor):
            text_embeddings = autograd.tensor(text_embeddings)
        if text_embeddings.ndim != 2:
            raise ValueError(f"CLIPGuidance: text_embeddings must be (B, D), one prompt per "
                             f"sample, got shape {text_embeddings.shape}")
        norm = (text_embeddings * text_embeddings).sum(axis=1, keepdims=True).sqrt()
        self.text = (text_embeddings / norm).detach()
        self.model, self.schedule, self.clip, self.scale = model, schedule, clip, scale
        self.objective, self.target = objective, target
        self.preprocess = preprocess if preprocess is not None else (lambda x: x)

    def __getattr__(self, name):
        """What the samplers ask of a network (diffusion_config, training, train) is the
        wrapped network's."""
        if name == 'model':  # not set yet (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.model, name)

    def cosine(self, images):
        """cos(f(preprocess(images)), g(prompt)) per sample, (B,), differentiable in images."""
        if images.shape[0] != self.text.shape[0]:
            raise ValueError(f"CLIPGuidance: {images.shape[0]} images but "
                             f"{self.text.shape[0]} prompt embeddings; give one per sample")
        e = self.clip.encode_image(self.preprocess(images))
        e = e / (e * e).sum(axis=1, keepdims=True).sqrt()
        return (e * self.text.astype(e.dtype)).sum(axis=1)

    def gradient(self, x_t, t, **cond):
        """(the network's output at x_t, grad_{x_t} c(x_t)) for timesteps t (B,)."""
        with autograd.enable_grad():
            x = x_t.detach().requires_grad_()
            if self.target == 'x_t':
                with autograd.no_grad():
                    prediction = self.model(x_t, t, **cond)
                image = x
            else:
                prediction = self.model(x, t, **cond)
                alpha_bar = self.schedule.at('alpha_bar', t, x_t)
                image = split_prediction(prediction, x, alpha_bar, self.objective)[0]
            # each sample's cosine depends on its own image only: grad of the sum is per-sample
            grad, = autograd.grad(self.cosine(image).sum(), x)
        return prediction.detach(), grad

    def __call__(self, x_t, t, **cond):
        prediction, grad = self.gradient(x_t, t, **cond)
        alpha_bar = self.schedule.at('alpha_bar', t, x_t)
        # delta = eps_hat - eps_theta = - s sqrt(1 - alpha_bar_t) grad c   (Algorithm 2)
        delta = -self.scale * (1 - alpha_bar).sqrt() * grad
        # the same shift in the network's output units (module docstring)
        if self.objective == 'x0':
            delta = -((1 - alpha_bar) / alpha_bar).sqrt() * delta
        elif self.objective == 'v':
            delta = delta / alpha_bar.sqrt()
        return prediction + delta
