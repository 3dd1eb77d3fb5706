"""IndeCateR: Rao-Blackwellised REINFORCE over each independent categorical variable (De Smet et al. 2023)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaekit._math import with_grad
from vaekit.latents.discrete import discrete_logits, is_one_hot, possible, score_latents
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["IndeCateR", "indecater_estimate"]


def indecater_estimate(probs: Tensor, f: Tensor, f_base: Tensor) -> Tensor:
    """IndeCateR: value = mean_n f(z_n); gradient sums every class of every variable exactly.

    Gradient:  grad E_q[f(z)] = sum_d E_{z_-d ~ q} [ sum_c grad p_d(c) f(z_-d, z_d = c) ]
               estimated with N samples: (1/N) sum_n sum_{d,c} grad p_d(c) f(z_n with z_nd := c).
    The generative model's gradient uses the Rao-Blackwellised values (1/(N V)) sum_{n,d,c} p_d(c) f(.),
    each unbiased for E_q[f]. Costs N * V * C evaluations of f.

    Shapes:
        probs: ``[B, V, C]`` (class probabilities, differentiable); f: ``[B, N, V, C]`` (f with variable d
        set to class c in sample n); f_base: ``[B, N]`` (f at the samples themselves); returns ``[B]``.

    References:
        De Smet, Sansone & Zuidberg Dos Martins, "Differentiable sampling of categorical distributions
        using the CatLog-derivative trick", NeurIPS 2023.

    Example:
        >>> import torch
        >>> probs = torch.full((1, 1, 2), 0.5, requires_grad=True)
        >>> out = indecater_estimate(probs, torch.tensor([[[[0.0, 1.0]]]]), torch.tensor([[1.0]]))
        >>> out.sum().backward(); probs.grad.tolist()
        [[[0.0, 1.0]]]
    """
    f = possible(f)  # an impossible latent (-inf) adds no term to the surrogate
    rb = (probs.detach().unsqueeze(1) * f).sum(dim=-1).mean(dim=(1, 2))  # [B]: model gradient path
    score = (probs.unsqueeze(1) * f.detach()).sum(dim=(2, 3)).mean(dim=1)  # [B]: logit gradient path
    return with_grad(f_base.mean(dim=-1), rb + score)


class IndeCateR(Loss):
    """Negative ELBO with the IndeCateR gradient for factorised categorical (one-hot) or Bernoulli latents.

    f(z) = log p(x, z) - log q(z|x) (q's parameters held fixed: the direct term has mean zero) is
    scored at every single-variable change of every sample in one call of each model. For Bernoulli
    latents each coordinate is a 2-class variable. ``log_p_``, ``log_q_``: ``[B, N]`` at the samples.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar.

    Args:
        n_samples: N samples; each costs V * C evaluations (V variables, C classes).

    References:
        De Smet, Sansone & Zuidberg Dos Martins, "Differentiable sampling of categorical distributions
        using the CatLog-derivative trick", NeurIPS 2023.

    Example:
        >>> import torch
        >>> from vaekit.latents import CategoricalEncoder, CategoricalDecoder
        >>> loss_fn = IndeCateR(CategoricalEncoder(6, 3, 4), CategoricalDecoder(3, 4, 6))
        >>> loss_fn(torch.ones(2, 6)).backward(); tuple(loss_fn.log_p_.shape)
        (2, 1)
    """

    unbiased = True

    def __init__(self, inf_net: InfNet, gen_model: GenModel, *, n_samples: int = 1, check_finite: bool = True):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite)

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        inf = self.inf_net(x)
        logits = discrete_logits(inf, "IndeCateR")  # [B, *z_shape]
        b, n, z_shape = logits.shape[0], self.n_samples, tuple(logits.shape[1:])
        z = inf.sample(n).detach()  # [B, N, *z_shape]
        if tuple(z.shape) != (b, n, *z_shape):
            raise ValueError(
                f"{type(inf).__name__}.sample returned a tensor of shape {tuple(z.shape)}; expected "
                f"[B, K, *z_shape] = {(b, n, *z_shape)}"
            )
        if is_one_hot(inf):
            c = z_shape[-1]
            v = math.prod(z_shape[:-1])
            probs = torch.softmax(logits, dim=-1).reshape(b, v, c)  # [B, V, C]
            flat = z.reshape(b, n, 1, 1, v, c).expand(b, n, v, c, v, c).clone()  # [B, N, V(d), C(c), V, C]
            eye_v = torch.eye(v, dtype=torch.bool, device=z.device).reshape(1, 1, v, 1, v, 1)
            classes = torch.eye(c, dtype=z.dtype, device=z.device).reshape(1, 1, 1, c, 1, c)
            flat = torch.where(eye_v, classes.expand_as(flat), flat)  # variable d set to class c
        else:
            c, v = 2, math.prod(z_shape)
            p1 = torch.sigmoid(logits).reshape(b, v, 1)
            probs = torch.cat([1 - p1, p1], dim=-1)  # [B, V, 2]
            flat = z.reshape(b, n, 1, 1, v).expand(b, n, v, c, v).clone()  # [B, N, V(d), 2(c), V]
            eye_v = torch.eye(v, dtype=torch.bool, device=z.device).reshape(1, 1, v, 1, v)
            classes = torch.arange(c, dtype=z.dtype, device=z.device).reshape(1, 1, 1, c, 1)
            flat = torch.where(eye_v, classes.expand_as(flat), flat)  # coordinate d set to c
        log_p, log_q = score_latents(inf, self.gen_model, target, z, "IndeCateR", detach_q=True)  # [B, N] each
        configs = flat.reshape(b, n * v * c, *z_shape)  # [B, N V C, *z_shape]
        lp_c, lq_c = score_latents(inf, self.gen_model, target, configs, "IndeCateR", detach_q=True)  # [B, N V C]
        self.keep_log_weights(log_p, log_q, more_log_p=lp_c, more_log_q=lq_c)
        f = (lp_c - lq_c).reshape(b, n, v, c)  # [B, N, V, C]
        return indecater_estimate(probs, f, log_p - log_q)
