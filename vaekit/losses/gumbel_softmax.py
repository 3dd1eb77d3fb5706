"""Gumbel-softmax (Concrete) relaxed ELBO and its straight-through variant (Jang et al. 2017; Maddison et al. 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaekit.latents.discrete import check_temperature, discrete_logits, is_one_hot, score_latents
from vaekit.latents.noise import gumbel_noise, logistic_noise
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["GumbelSoftmax", "gumbel_softmax_latents"]


def gumbel_softmax_latents(
    logits: Tensor, noise: Tensor, temperature: float | Tensor, *, one_hot: bool, straight_through: bool = False
) -> Tensor:
    """Relaxed latents, differentiable in ``logits`` (with ``straight_through``: hard forward, relaxed backward).

    Categorical:  z~ = softmax((a + G) / tau), G standard Gumbel       (Gumbel-softmax / Concrete).
    Bernoulli:    z~ = sigmoid((a + L) / tau), L standard logistic     (binary Concrete).
    Straight-through: z = H(z~) + z~ - stop_gradient(z~), H = one-hot argmax (or 1[a + L > 0]): the
    forward value is an exact draw of q, the backward pass is the relaxed one (biased).

    Shapes:
        logits: ``[B, 1, *z_shape]`` (or broadcastable to noise); noise: ``[B, K, *z_shape]``; returns noise's shape.

    Example:
        >>> import torch
        >>> z = gumbel_softmax_latents(torch.zeros(1, 1, 3), torch.tensor([[[0.0, 2.0, 1.0]]]), 1.0,
        ...                            one_hot=True, straight_through=True)
        >>> z.tolist()
        [[[0.0, 1.0, 0.0]]]
    """
    y = logits + noise  # [B, K, *z_shape]
    soft = torch.softmax(y / temperature, dim=-1) if one_hot else torch.sigmoid(y / temperature)
    if not straight_through:
        return soft
    hard = F.one_hot(y.argmax(-1), y.shape[-1]).to(soft.dtype) if one_hot else (y > 0).to(soft.dtype)
    return hard + (soft - soft.detach())


class GumbelSoftmax(Loss):
    """Negative relaxed ELBO with a temperature (biased for the ELBO); ``straight_through=True`` gives ST-Gumbel.

    Relaxed objective: E_G[ log p(x, z~) - log q(z~|x) ], both models' log-mass formulas evaluated at
    the relaxed z~ (as in Jang et al.'s categorical VAE); its gradient is exact for this objective,
    which tends to the ELBO as tau -> 0 while the gradient variance grows. Straight-through: the
    value is an ELBO sample at the hard z and the gradient flows through the relaxation. Both are
    BIASED estimators of the ELBO gradient (``unbiased = False``). Needs a decoder (and, without
    straight-through, an encoder log_prob) that accepts relaxed latents: a ValueError says so.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar; ``log_p_``, ``log_q_``: ``[B, K]`` at the scored latents.

    Args:
        inf_net: q(z|x) exposing ``params_["logits"]`` (Bernoulli, or one-hot with ``one_hot = True``).
        gen_model: p(x, z), accepting relaxed latents.
        n_samples: K relaxed samples.
        temperature: tau > 0, or a schedule module ``step -> tau`` (e.g. ``ExponentialAnnealing``),
            evaluated at the loss's step counter ``step_`` (advanced by every training-mode call).
        straight_through: the ST-Gumbel estimator.

    References:
        Jang, Gu & Poole, "Categorical reparameterization with Gumbel-softmax", ICLR 2017.
        Maddison, Mnih & Teh, "The Concrete distribution", ICLR 2017.

    Example:
        >>> import torch
        >>> from vaekit.latents import CategoricalEncoder, CategoricalDecoder
        >>> loss_fn = GumbelSoftmax(CategoricalEncoder(6, 3, 4), CategoricalDecoder(3, 4, 6), temperature=0.5)
        >>> loss_fn(torch.ones(2, 6)).backward(); int(loss_fn.step_)
        1
    """

    unbiased = False
    step_: Tensor

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 1,
        temperature: float | nn.Module = 1.0,
        straight_through: bool = False,
        check_finite: bool = True,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite)
        if isinstance(temperature, nn.Module):
            self.schedule: nn.Module | None = temperature
            self.temperature = check_temperature(temperature(0), f"{type(self).__name__} schedule(0)")
        else:
            self.schedule, self.temperature = None, check_temperature(temperature, type(self).__name__)
        if not isinstance(straight_through, bool):
            raise TypeError(
                f"{type(self).__name__}: straight_through must be a bool; got {type(straight_through).__name__}"
            )
        self.straight_through = straight_through
        self.register_buffer("step_", torch.zeros((), dtype=torch.long))

    def current_temperature(self) -> float:
        """tau at the current step (the schedule's value, checked > 0, or the fixed temperature)."""
        if self.schedule is None:
            return self.temperature
        return check_temperature(self.schedule(int(self.step_)), f"{type(self).__name__} schedule")

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        tau = self.current_temperature()
        if self.training and torch.is_grad_enabled():
            self.step_ += 1
        inf = self.inf_net(x)
        logits = discrete_logits(inf, type(self).__name__).unsqueeze(1)  # [B, 1, *z_shape]
        one_hot = is_one_hot(inf)
        shape = (logits.shape[0], self.n_samples, *logits.shape[2:])
        draw = gumbel_noise if one_hot else logistic_noise
        noise = draw(shape, dtype=logits.dtype, device=logits.device)  # [B, K, *z_shape]
        z = gumbel_softmax_latents(logits, noise, tau, one_hot=one_hot, straight_through=self.straight_through)
        log_p, log_q = score_latents(
            inf, self.gen_model, target, z, type(self).__name__, relaxed=not self.straight_through
        )  # [B, K] each
        self.keep_log_weights(log_p, log_q)
        return (log_p - log_q).mean(dim=-1)

    def extra_repr(self) -> str:
        return (
            f"n_samples={self.n_samples}, temperature={self.schedule or self.temperature}, "
            f"straight_through={self.straight_through}"
        )
