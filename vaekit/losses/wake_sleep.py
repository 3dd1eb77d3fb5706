"""Wake-sleep (Hinton et al. 1995): wake-theta on latents from q, sleep-phi on dreams from p."""

from __future__ import annotations

import math

from torch import Tensor

from vaekit._math import with_grad
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["WakeSleep", "wake_sleep_estimate"]


def wake_sleep_estimate(log_p: Tensor, log_q: Tensor, sleep_log_q: Tensor) -> Tensor:
    """Per-example wake-sleep estimate: value = the K-sample ELBO, gradient = wake-theta + sleep-phi.

    Objective (value):  ELBO(x) ~ (1/K) sum_k [log p(x, z_k) - log q(z_k|x)],  z_k ~ q(z|x).
    Gradient, wake-theta:  (1/K) sum_k grad_theta log p(x, z_k)   (unbiased for grad_theta ELBO).
    Gradient, sleep-phi:   (1/N) sum_n grad_phi log q(z'_n|x'_n),  (x'_n, z'_n) ~ p(x, z)
                           (unbiased for grad_phi E_{p(x,z)}[log q(z|x)], i.e. minus the gradient of
                           E_{p(x)} KL(p(z|x) || q(z|x))). The same dream term is added to every
                           example, so the batch mean carries it once.

    Shapes:
        log_p, log_q: ``[B, K]`` (latents drawn with no gradient path); sleep_log_q: ``[N]``;
        returns ``[B]``.

    References:
        Hinton, Dayan, Frey & Neal, "The wake-sleep algorithm for unsupervised neural networks",
        Science 1995.

    Example:
        >>> import torch
        >>> wake_sleep_estimate(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(4)).tolist()
        [-1.0, -1.0]
    """
    lp = log_p.detach()
    bound = (lp - log_q.detach()).mean(dim=-1)  # [B]: the value, no gradient needed
    # log p = -inf (an impossible latent) makes the bound -inf; it adds no term to the surrogate,
    # whose value must stay finite (it is subtracted from itself). masked_fill, not nan_to_num:
    # its backward is one kernel. (NaN or +inf log p is the finiteness check's to report.)
    possible = log_p.masked_fill(lp == -math.inf, 0.0)  # [B, K]; gradient masked alike
    return with_grad(bound, possible.mean(dim=-1) + sleep_log_q.mean())  # [B]


class WakeSleep(Loss):
    """Wake-sleep: the generative model ascends the ELBO's theta-gradient on latents from q; the
    inference network fits dreams from the generative model.

    ``loss`` value = -mean_b ELBO_K(x_b), the wake-phase ELBO estimate (a bound to monitor,
    although phi does not follow its gradient); gradient: see :func:`wake_sleep_estimate`.
    Each call draws K latents per data point from q (``sample``, no rsample needed, discrete
    latents fine) and ``n_sleep`` dreams (x', z') from ``gen_model.sample`` (default: one dream
    per data point, N = B). The sleep phase scores q on dreams, so the data must be what the
    generative model generates: a separate ``target`` raises ValueError.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x).
        gen_model: p(x, z); needs ``sample``.
        n_samples: K >= 1 wake latents per data point.
        n_sleep: dreams per call; None for the batch size.
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.

    References:
        Hinton, Dayan, Frey & Neal, Science 1995.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = WakeSleep(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6))
        >>> loss_fn(torch.bernoulli(torch.full((4, 6), 0.5))).backward()
    """

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 1,
        n_sleep: int | None = None,
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite, sync_every=sync_every)
        if n_sleep is not None and (isinstance(n_sleep, bool) or not isinstance(n_sleep, int) or n_sleep < 1):
            raise ValueError(f"WakeSleep: n_sleep must be None or an int >= 1; got {n_sleep!r}")
        self.n_sleep = n_sleep

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        if target is not x:
            raise ValueError(
                "WakeSleep: the sleep phase needs target == x (dreams are scored by q(z|x)); got a separate target"
            )
        _, log_p, log_q = self.draw(x, target, reparam=False)
        sleep = self.sleep_log_q(x.shape[0] if self.n_sleep is None else self.n_sleep)  # [N]
        return wake_sleep_estimate(log_p, log_q, sleep)

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}, n_sleep={self.n_sleep}"
