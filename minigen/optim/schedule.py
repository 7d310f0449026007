"""Learning-rate schedules: LambdaLR and two multipliers for it.

LambdaLR (torch.optim.lr_scheduler.LambdaLR) sets, after t calls of `step()`,
    lr_t = base_lr * lambda(t)
for every parameter group (base_lr: the group's lr when the scheduler was made). Call
`scheduler.step()` once after each `optimizer.step()`.

The multipliers, with warm-up length w and total length T (the formulas of Hugging Face
transformers' get_constant_schedule_with_warmup and get_cosine_schedule_with_warmup):
    linear_warmup(w):         lambda(t) = t / w  for t < w,  then 1
    cosine_with_warmup(w, T): lambda(t) = t / w  for t < w,  then
                              0.5 (1 + cos(pi * min(1, (t - w) / (T - w))))    (Loshchilov &
                              Hutter 2016, arXiv:1608.03983, eq. 5, one cycle, eta_min 0)
"""
import math


class LambdaLR:
    def __init__(self, optimizer, lr_lambda):
        self.optimizer, self.lr_lambda = optimizer, lr_lambda
        self.base_lrs = [g['lr'] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._set_lrs()

    def _set_lrs(self):
        factor = self.lr_lambda(self.last_epoch)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group['lr'] = base * factor

    def step(self):
        self.last_epoch += 1
        self._set_lrs()

    def get_last_lr(self):
        return [g['lr'] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {'last_epoch': self.last_epoch, 'base_lrs': list(self.base_lrs)}

    def load_state_dict(self, state_dict):
        base_lrs = list(state_dict['base_lrs'])
        if len(base_lrs) != len(self.optimizer.param_groups):
            raise ValueError(f"LambdaLR.load_state_dict: {len(base_lrs)} base learning rates "
                             f"for {len(self.optimizer.param_groups)} parameter groups")
        self.last_epoch, self.base_lrs = int(state_dict['last_epoch']), base_lrs
        self._set_lrs()


def linear_warmup(warmup_steps):
    """lambda(t) = min(1, t / warmup_steps)."""
    if warmup_steps < 0:
        raise ValueError(f"linear_warmup: warmup_steps must be >= 0, got {warmup_steps}")
    return lambda t: min(1.0, t / max(1, warmup_steps))


def cosine_with_warmup(warmup_steps, total_steps):
    """Linear warm-up to 1 over warmup_steps, then a half cosine down to 0 at total_steps."""
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"cosine_with_warmup: needs 0 <= warmup_steps < total_steps, got "
                         f"warmup_steps={warmup_steps}, total_steps={total_steps}")

    def factor(t):
        if t < warmup_steps:
            return t / warmup_steps
        progress = min(1.0, (t - warmup_steps) / (total_steps - warmup_steps))
        return 0.5 * (1 + math.cos(math.pi * progress))
    return factor
