"""DINO: self-distillation with no labels (a student learns to predict an EMA teacher).

Caron, Touvron, Misra, Jegou, Mairal, Bojanowski and Joulin 2021, "Emerging Properties in
Self-Supervised Vision Transformers" (arXiv:2104.14294), Sec. 3.1 and Algorithm 1.

Two networks of the same architecture, a backbone (a ViT) followed by a projection head
with K outputs, read different crops of one image: the student g_s (parameters theta_s)
every crop, the teacher g_t (theta_t) only the 2 global crops. Each output becomes a
distribution over K dimensions by a softmax with a temperature (eq. 1):

    P_s(x) = softmax(g_s(x) / tau_s),    P_t(x) = softmax((g_t(x) - c) / tau_t)

and the student is trained to match the teacher across views (eq. 3): with V the set of
all crops and x_1^g, x_2^g the global ones,

    L = 1 / #pairs  sum_{x in {x_1^g, x_2^g}}  sum_{x' in V, x' != x}  H(P_t(x), P_s(x')),
    H(a, b) = - sum_k a_k log b_k .

Only the student gets gradients; the teacher follows it as an exponential moving average
(Sec. 3.1, "Teacher network"),

    theta_t <- lambda theta_t + (1 - lambda) theta_s,
    lambda  =  1 - (1 - lambda_0) (cos(pi k / K) + 1) / 2      (from lambda_0 to 1 over K steps)

Avoiding collapse (Sec. 3.1 and 5.3): the teacher's outputs are centred by c, an EMA of
their batch mean (eq. 4, m = 0.9),

    c <- m c + (1 - m) 1/B sum_i g_t(x_i),

which stops one dimension dominating (collapse to a one-hot output), and sharpened by a
low tau_t (0.04 against tau_s = 0.1), which stops the centring flattening the output into
a uniform one. Without the centre, P_t becomes one-hot: its entropy goes to 0 and so does
KL(P_t || P_s); without sharpening, the entropy goes to ln K. Since H(P_t, P_s) =
H(P_t) + KL(P_t || P_s), the loss splits into the two numbers `DINO.loss` reports.

The projection head (Sec. 3.1, Appendix C): a 3-layer MLP (GELU) to a bottleneck, L2
normalisation, and a weight-normalised linear layer (Salimans and Kingma 2016,
arXiv:1602.07868: w_k = g_k v_k / ||v_k||) with g fixed to 1, as DINO's default
norm_last_layer=True: the K outputs are then cosines between the normalised bottleneck
and K learned directions.

Multi-crop (Sec. 3.1; Caron et al. 2020, arXiv:2006.09882): 2 global crops covering a
large part of the image and several small local crops at a lower resolution; "local to
global" correspondence is what the student learns. The crops come from
minigen.data.augment (demos/dino.py).

Frozen features for k-NN and linear probes are the teacher backbone's (Sec. 4.1: the
teacher performs better than the student throughout training).

KoLeo (optional, `koleo_weight`; DINOv2, Oquab et al. 2023, arXiv:2304.07193, Sec. 4, from
Sablayrolles et al. 2019, arXiv:1806.03198): the Kozachenko-Leonenko entropy estimator of
the student's L2-normalised class tokens z_1..z_n of one global crop's batch,

    L_koleo = - 1/n sum_i log rho_i,    rho_i = min_{j != i} ||z_i - z_j||,

added to the loss with a weight (DINOv2: 0.1). It pushes every feature away from its
nearest neighbour, so the backbone cannot map all images to one point: on a small set
and a short run, that constant backbone is where DINO otherwise goes (the teacher's
output then uniform after centring, H(P_t) = ln K).
"""
import copy
import math

import numpy as np

import autograd
import minigen.nn as nn
from minigen.nn import init

from .encoders import l2_normalize


class WeightNormLinear(nn.Module):
    """x -> x W^T with every row w_k = v_k / ||v_k|| (weight normalisation with g = 1, no
    bias): for a unit x, output k is the cosine of x and v_k."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight_v = nn.Parameter(autograd.zeros(out_features, in_features))
        init.normal_(self.weight_v, std=0.02)

    def forward(self, x):
        return x @ l2_normalize(self.weight_v, axis=1).T


class DINOHead(nn.Module):
    """h (N, in_dim) -> K = out_dim outputs: MLP (in -> hidden -> hidden -> bottleneck,
    GELU between), L2 normalisation, WeightNormLinear(bottleneck, K)."""

    def __init__(self, in_dim, out_dim=256, hidden=256, bottleneck=64):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden),
                                 nn.GELU(), nn.Linear(hidden, bottleneck))
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):                 # DINO's trunc_normal_(std=.02)
                init.normal_(layer.weight, std=0.02)
                init.zeros_(layer.bias)
        self.last_layer = WeightNormLinear(bottleneck, out_dim)

    def forward(self, h):
        return self.last_layer(l2_normalize(self.mlp(h)))


def dino_loss(student_out, teacher_out, center, student_temp=0.1, teacher_temp=0.04):
    """Eq. 3: the mean over pairs (teacher view i, student view v != i) of
    H(softmax((t_i - c) / tau_t), softmax(s_v / tau_s)). `student_out`: a list of (B, K)
    Tensors, one per crop, the global crops first; `teacher_out`: the teacher's (B, K) for
    the global crops (no gradient flows into them); `center`: (K,) or (1, K)."""
    if not 0 < len(teacher_out) <= len(student_out) or len(student_out) < 2:
        raise ValueError(f"dino_loss: needs at least 2 student views and 1 to "
                         f"{len(student_out)} teacher views, got {len(student_out)} and "
                         f"{len(teacher_out)}")
    if not (student_temp > 0 and teacher_temp > 0):
        raise ValueError(f"dino_loss: temperatures must be > 0, got {student_temp}, "
                         f"{teacher_temp}")
    center = autograd.as_tensor(center.data if isinstance(center, autograd.Tensor) else center)
    targets = [((t.detach() - center) / teacher_temp).softmax(-1) for t in teacher_out]
    log_probs = [(s / student_temp).log_softmax(-1) for s in student_out]
    terms = [-(p_t * log_probs[v]).sum(-1).mean()
             for i, p_t in enumerate(targets) for v in range(len(log_probs)) if v != i]
    return sum(terms[1:], terms[0]) / len(terms)


def koleo_loss(z, eps=1e-8):
    """L_koleo = -mean_i log rho_i of the rows of z (n, d), n >= 2, after L2 normalisation;
    rho_i = sqrt(||z_i - z_j(i)||^2 + eps), j(i) the nearest other row (its choice is piecewise
    constant in z: no gradient flows through it)."""
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"koleo_loss: needs features (n, d) with n >= 2, got {z.shape}")
    z = l2_normalize(z, axis=1)
    cos = z.numpy() @ z.numpy().T
    np.fill_diagonal(cos, -np.inf)
    d = z - z[cos.argmax(1)]                    # nearest neighbour: the largest cosine
    return -(((d * d).sum(-1) + eps) ** 0.5).log().mean()


def teacher_momentum(step, total_steps, base=0.996):
    """lambda at step k of K: 1 - (1 - base) (cos(pi k / K) + 1) / 2, base at 0, 1 at K."""
    progress = min(1.0, step / max(1, total_steps))
    return 1 - (1 - base) * (math.cos(math.pi * progress) + 1) / 2


class DINO(nn.Module):
    """A student (backbone + DINOHead) and its EMA teacher, with the centre c.

    loss(crops) takes a list of image batches, the 2 global crops first (the same size),
    then the local ones (one size), and returns (loss, stats) where stats holds the
    teacher's mean entropy H(P_t) and KL(P_t || P_s) over the pairs (floats); it then
    moves the centre (eq. 4). With koleo_weight > 0 the loss adds koleo_weight times
    L_koleo of the student backbone's features, summed over the global crops (stats['koleo']:
    that sum). After the optimiser's step, update_teacher(lambda)."""

    def __init__(self, backbone, out_dim=256, hidden=256, bottleneck=64, student_temp=0.1,
                 teacher_temp=0.04, center_momentum=0.9, centering=True, koleo_weight=0.0):
        super().__init__()
        self.student = nn.Sequential(backbone, DINOHead(backbone.feature_dim, out_dim, hidden,
                                                        bottleneck))
        self.teacher = copy.deepcopy(self.student)              # theta_t = theta_s at start
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.register_buffer('center', autograd.zeros(1, out_dim))
        self.student_temp, self.teacher_temp = student_temp, teacher_temp
        self.center_momentum, self.centering = center_momentum, centering
        self.koleo_weight = koleo_weight

    def _views(self, net, crops):
        """net over the crops, one pass per resolution: a list of (B, K) outputs."""
        outs, i = [], 0
        while i < len(crops):
            j = i
            while j < len(crops) and crops[j].shape == crops[i].shape:
                j += 1
            b = crops[i].shape[0]
            out = net(autograd.cat(list(crops[i:j]), axis=0))
            outs += [out[k * b:(k + 1) * b] for k in range(j - i)]
            i = j
        return outs

    def loss(self, crops, n_global=2):
        with autograd.no_grad():
            teacher_out = self._views(self.teacher, crops[:n_global])
        backbone, head = self.student
        features = self._views(backbone, crops)        # every crop has the batch's B rows
        b = crops[0].shape[0]
        out = head(autograd.cat(features, axis=0))
        student_out = [out[k * b:(k + 1) * b] for k in range(len(crops))]
        center = self.center if self.centering else autograd.zeros_like(self.center)
        loss = dino_loss(student_out, teacher_out, center, self.student_temp, self.teacher_temp)
        stats = self._stats(student_out, teacher_out, center)
        if self.koleo_weight:
            koleo = sum((koleo_loss(f) for f in features[1:n_global]), koleo_loss(features[0]))
            loss = loss + self.koleo_weight * koleo
            stats['koleo'] = koleo.item()
        if self.centering:
            self.update_center(autograd.cat(teacher_out, axis=0))
        return loss, stats

    def _stats(self, student_out, teacher_out, center):
        """Mean H(P_t) and KL(P_t || P_s) over the same pairs as the loss."""
        c = center.numpy()
        entropies, kls = [], []
        for i, t in enumerate(teacher_out):
            log_t = _log_softmax((t.numpy() - c) / self.teacher_temp)
            h_t = -(np.exp(log_t) * log_t).sum(-1).mean()
            for v, s in enumerate(student_out):
                if v != i:
                    log_s = _log_softmax(s.detach().numpy() / self.student_temp)
                    entropies.append(h_t)
                    kls.append((np.exp(log_t) * (log_t - log_s)).sum(-1).mean())
        return {'teacher_entropy': float(np.mean(entropies)), 'kl': float(np.mean(kls))}

    def update_center(self, teacher_out):
        """Eq. 4: c <- m c + (1 - m) mean_i g_t(x_i), over every teacher output (B', K)."""
        m = self.center_momentum
        with autograd.no_grad():
            self.center.data[...] = m * self.center.data + (1 - m) * teacher_out.data.mean(
                0, keepdims=True)

    def update_teacher(self, momentum):
        """theta_t <- lambda theta_t + (1 - lambda) theta_s, parameter by parameter."""
        with autograd.no_grad():
            for p_t, p_s in zip(self.teacher.parameters(), self.student.parameters()):
                p_t.data[...] = momentum * p_t.data + (1 - momentum) * p_s.data

    def features(self, images, batch_size=256, network='teacher', pool='cls'):
        """Frozen backbone features (N, feature_dim) of the teacher (or the student), as a
        NumPy array: the backbone's output (a ViT's class token), or with pool='mean' the
        mean of a ViT's patch tokens (its `forward_features` after the class token)."""
        if pool not in ('cls', 'mean'):
            raise ValueError(f"DINO.features: pool must be 'cls' or 'mean', got {pool!r}")
        backbone = getattr(self, network)[0]
        read = backbone if pool == 'cls' else lambda x: backbone.forward_features(x)[:, 1:].mean(1)
        device = self.center.device
        with autograd.no_grad():
            out = [read(autograd.tensor(np.asarray(images[i:i + batch_size]),
                                        device=device)).numpy()
                   for i in range(0, len(images), batch_size)]
        return np.concatenate(out)


def _log_softmax(a):
    a = a - a.max(-1, keepdims=True)
    return a - np.log(np.exp(a).sum(-1, keepdims=True))
