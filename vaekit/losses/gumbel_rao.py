"""Gumbel-Rao: straight-through Gumbel, relaxed gradient averaged over conditional noise (Paulus et al. 2021)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vaekit.latents.discrete import check_temperature, discrete_logits, is_one_hot, score_latents
from vaekit.latents.noise import conditional_gumbel, conditional_logistic, gumbel_noise, logistic_noise
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["GumbelRao", "gumbel_rao_latents"]


def gumbel_rao_latents(
    logits: Tensor, hard: Tensor, cond_noise: Tensor, temperature: float, *, one_hot: bool
) -> Tensor:
    """Hard latents whose backward pass is the mean of R relaxed gradients given the hard draw.

    z = D + s - stop_gradient(s),   s = (1/R) sum_r relax((a + G_r) / tau),   G_r ~ law of G given D,
    so grad z = E[grad relax((a + G)/tau) | D] estimated with R draws: the ST-Gumbel gradient
    Rao-Blackwellised, same mean, lower variance (biased for the true gradient like ST-Gumbel).

    Shapes:
        logits: ``[B, 1, *z_shape]``; hard: ``[B, K, *z_shape]``; cond_noise: ``[B, K, R, *z_shape]``;
        returns ``[B, K, *z_shape]`` equal to ``hard`` in value.

    Example:
        >>> import torch
        >>> hard = torch.tensor([[[1.0, 0.0]]])
        >>> gumbel_rao_latents(torch.zeros(1, 1, 2), hard, torch.zeros(1, 1, 3, 2), 1.0, one_hot=True).tolist()
        [[[1.0, 0.0]]]
    """
    y = logits.unsqueeze(2) + cond_noise  # [B, K, R, *z_shape]
    soft = (torch.softmax(y / temperature, dim=-1) if one_hot else torch.sigmoid(y / temperature)).mean(dim=2)
    return hard + (soft - soft.detach())  # [B, K, *z_shape]


class GumbelRao(Loss):
    """Negative ELBO sample at hard latents with the Gumbel-Rao gradient: biased (``unbiased = False``).

    One decoder evaluation per sample; the R conditional noise draws cost only the relaxation.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar; ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        n_samples: K hard samples.
        n_conditional: R conditional noise draws per hard sample.
        temperature: tau > 0.

    References:
        Paulus, Maddison & Krause, "Rao-Blackwellizing the straight-through Gumbel-softmax gradient
        estimator", ICLR 2021.

    Example:
        >>> import torch
        >>> from vaekit.latents import CategoricalEncoder, CategoricalDecoder
        >>> loss_fn = GumbelRao(CategoricalEncoder(6, 3, 4), CategoricalDecoder(3, 4, 6), n_conditional=10)
        >>> loss_fn(torch.ones(2, 6)).backward(); tuple(loss_fn.log_p_.shape)
        (2, 1)
    """

    unbiased = False

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 1,
        n_conditional: int = 10,
        temperature: float = 1.0,
        check_finite: bool = True,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite)
        if isinstance(n_conditional, bool) or not isinstance(n_conditional, int) or n_conditional < 1:
            raise ValueError(f"GumbelRao: n_conditional must be an int >= 1; got {n_conditional!r}")
        self.n_conditional = n_conditional
        self.temperature = check_temperature(temperature, "GumbelRao")

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        inf = self.inf_net(x)
        logits = discrete_logits(inf, "GumbelRao").unsqueeze(1)  # [B, 1, *z_shape]
        one_hot, a = is_one_hot(inf), logits.detach()
        shape = (logits.shape[0], self.n_samples, *logits.shape[2:])
        r = self.n_conditional
        a_rep = a.unsqueeze(2).expand(shape[0], shape[1], r, *shape[2:])  # [B, K, R, *z_shape]
        if one_hot:
            y = a + gumbel_noise(shape, dtype=a.dtype, device=a.device)  # [B, K, *z_shape]
            index = y.argmax(-1)  # [B, K, *z_shape[:-1]]
            hard = F.one_hot(index, y.shape[-1]).to(a.dtype)
            noise = conditional_gumbel(a_rep, index.unsqueeze(2).expand(a_rep.shape[:-1]))  # [B, K, R, *z_shape]
        else:
            hard = (a + logistic_noise(shape, dtype=a.dtype, device=a.device) > 0).to(a.dtype)  # [B, K, *z_shape]
            noise = conditional_logistic(a_rep, hard.unsqueeze(2).expand_as(a_rep)) - a_rep  # [B, K, R, *z_shape]
        z = gumbel_rao_latents(logits, hard, noise, self.temperature, one_hot=one_hot)  # [B, K, *z_shape]
        log_p, log_q = score_latents(inf, self.gen_model, target, z, "GumbelRao")  # [B, K] each
        self.keep_log_weights(log_p, log_q)
        return (log_p - log_q).mean(dim=-1)

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}, n_conditional={self.n_conditional}, temperature={self.temperature}"
