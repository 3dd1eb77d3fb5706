"""Reweighted wake-sleep (Bornschein & Bengio 2015; Le et al. 2019)."""
from __future__ import annotations

from torch import Tensor

from vaekit._math import logmeanexp, self_normalized_weights, with_grad
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["RWS", "rws_estimate"]

_PHI_UPDATES = ("wake", "sleep", "mixture")


def rws_estimate(log_p: Tensor, log_q: Tensor, sleep_log_q: Tensor | None = None, *, wake_weight: float = 1.0,
                 log_p_fixed_z: Tensor | None = None, log_q_stopped: Tensor | None = None) -> Tensor:
    """Per-example RWS estimate: value = the IWAE_K bound, gradient = RWS's theta and phi updates.

    Objective (value):  IWAE_K(x) ~ log (1/K) sum_k w_k,  w_k = p(x, z_k) / q(z_k|x),  z_k ~ q(z|x).
    wake-theta:  sum_k wt_k grad_theta log p(x, z_k),  wt_k = w_k / sum_j w_j (detached):
                 exactly the theta-gradient of IWAE_K (unbiased for it).
    wake-phi:    sum_k wt_k grad_phi log q(z_k|x): a self-normalised estimate of
                 E_{p(z|x)}[grad_phi log q(z|x)] = -grad_phi KL(p(z|x) || q(z|x)); biased for
                 finite K, the bias vanishing as K grows.
    wake-phi, DReG (Tucker et al. 2018), z_k = g(eps_k, phi) reparameterised: the same expectation as
                 sum_k (wt_k - wt_k^2) d log w_k / d z_k * d z_k / d phi, with q's parameters held
                 fixed inside log w_k (lower variance; needs rsample).
    sleep-phi:   (1/N) sum_n grad_phi log q(z'_n|x'_n), (x'_n, z'_n) ~ p(x, z): unbiased for
                 grad_phi E_{p(x,z)}[log q(z|x)] = -grad_phi E_{p(x)} KL(p(z|x) || q(z|x)).
    phi update:  wake_weight * wake-phi + (1 - wake_weight) * sleep-phi.

    Shapes:
        log_p, log_q: ``[B, K]``; sleep_log_q: ``[N]``; log_p_fixed_z, log_q_stopped: ``[B, K]``;
        returns ``[B]``.

    Args:
        log_p: log p(x, z_k); for DReG it must depend on z_k through rsample.
        log_q: log q(z_k|x) (latents detached unless DReG).
        sleep_log_q: log q(z'|x') of dreams; needed when ``wake_weight < 1``.
        wake_weight: the mixture weight of the wake-phi update, in [0, 1].
        log_p_fixed_z: DReG only: log p(x, z_k) with z_k detached (carries theta's gradient).
        log_q_stopped: DReG only: log q(z_k|x) with q's parameters detached (``log_prob_detached``).

    References:
        Bornschein & Bengio, "Reweighted Wake-Sleep", ICLR 2015; Le, Kosiorek, Siddharth, Teh &
        Wood, "Revisiting Reweighted Wake-Sleep for Models with Stochastic Control Flow", UAI 2019;
        Tucker, Lawson, Gu & Maddison, "Doubly Reparameterized Gradient Estimators for Monte Carlo
        Objectives", ICLR 2019 (arXiv 2018), sec. 3.

    Example:
        >>> import torch
        >>> [round(v, 4) for v in rws_estimate(torch.zeros(1, 2), torch.log(torch.tensor([[0.5, 2.0]]))).tolist()]
        [0.2231]
    """
    if not 0.0 <= wake_weight <= 1.0:
        raise ValueError(f"rws_estimate: wake_weight must be in [0, 1]; got {wake_weight!r}")
    dreg = log_p_fixed_z is not None or log_q_stopped is not None
    if dreg and (log_p_fixed_z is None or log_q_stopped is None):
        raise ValueError("rws_estimate: DReG needs both log_p_fixed_z and log_q_stopped")
    log_w = log_p - log_q  # [B, K]
    bound = logmeanexp(log_w, dim=-1)  # [B]
    wt = self_normalized_weights(log_w)  # [B, K]
    theta = (wt * (log_p_fixed_z if dreg else log_p)).sum(dim=-1)  # [B]
    if dreg:
        # log_p - log_p_fixed_z is 0 in value and in theta; its phi-gradient runs along z only.
        path = log_p - log_p_fixed_z - log_q_stopped  # [B, K]
        wake_phi = ((wt - wt.pow(2)) * path).sum(dim=-1)  # [B]
    else:
        wake_phi = (wt * log_q).sum(dim=-1)  # [B]
    surrogate = theta
    if wake_weight > 0:
        surrogate = surrogate + wake_weight * wake_phi
    if wake_weight < 1:
        if sleep_log_q is None:
            raise ValueError(f"rws_estimate: wake_weight={wake_weight} < 1 needs sleep_log_q")
        surrogate = surrogate + (1 - wake_weight) * sleep_log_q.mean()
    return with_grad(bound, surrogate)


class RWS(Loss):
    """Reweighted wake-sleep with K importance samples: theta ascends IWAE_K, phi fits p(z|x).

    ``loss`` value = -mean_b IWAE_K(x_b) (what wake-theta ascends); gradient: see
    :func:`rws_estimate`. The phi update is chosen by ``phi_update``:
    "wake" (wake-phi only; Le et al. 2019 find it usually best), "sleep" (sleep-phi only) or
    "mixture" (``mixture * wake + (1 - mixture) * sleep``; Bornschein & Bengio 2015 use 0.5).
    Latents are drawn with ``sample`` (discrete latents fine) unless ``dreg=True``, which uses
    ``rsample`` and the DReG form of wake-phi (ValueError at construction without rsample, or with
    ``phi_update="sleep"``). Dreams: ``n_sleep`` per call (default the batch size B).

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x).
        gen_model: p(x, z); needs ``sample`` unless ``phi_update="wake"``.
        n_samples: K >= 1.
        phi_update: "wake", "sleep" or "mixture".
        mixture: wake weight in [0, 1] for ``phi_update="mixture"``.
        n_sleep: dreams per call; None for the batch size.
        dreg: DReG wake-phi (Tucker et al. 2018).
        check_finite: see :class:`~vaekit.losses.base.Loss`.

    References:
        Bornschein & Bengio, ICLR 2015; Le et al., UAI 2019; Tucker et al., ICLR 2019.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = RWS(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6), n_samples=5, phi_update="mixture")
        >>> loss_fn(torch.bernoulli(torch.full((4, 6), 0.5))).backward()
    """

    def __init__(self, inf_net: InfNet, gen_model: GenModel, *, n_samples: int = 5, phi_update: str = "wake",
                 mixture: float = 0.5, n_sleep: int | None = None, dreg: bool = False, check_finite: bool = True):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite)
        if phi_update not in _PHI_UPDATES:
            raise ValueError(f"RWS: phi_update must be one of {_PHI_UPDATES}; got {phi_update!r}")
        if not 0.0 <= mixture <= 1.0:
            raise ValueError(f"RWS: mixture must be in [0, 1]; got {mixture!r}")
        if n_sleep is not None and (isinstance(n_sleep, bool) or not isinstance(n_sleep, int) or n_sleep < 1):
            raise ValueError(f"RWS: n_sleep must be None or an int >= 1; got {n_sleep!r}")
        if dreg:
            if phi_update == "sleep":
                raise ValueError("RWS: dreg=True refines the wake-phi update; phi_update='sleep' has none")
            self.require_rsample("RWS(dreg=True)")
        self.phi_update = phi_update
        self.wake_weight = {"wake": 1.0, "sleep": 0.0, "mixture": float(mixture)}[phi_update]
        self.n_sleep = n_sleep
        self.dreg = dreg

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        sleeps = self.wake_weight < 1
        if sleeps and target is not x:
            raise ValueError("RWS: the sleep phase needs target == x (dreams are scored by q(z|x))")
        z, log_p, log_q = self.draw(x, target, reparam=self.dreg, check=not sleeps)
        extra = {}
        if self.dreg:
            extra["log_q_stopped"], extra["log_p_fixed_z"] = self.stopped_terms(z, target)  # [B, K] each
        sleep = None
        if sleeps:
            sleep = self.sleep_log_q(x.shape[0] if self.n_sleep is None else self.n_sleep)  # [N]
            self.check_log_weights(log_p, log_q, sleep_log_q=sleep)  # wake and sleep in one sync
        return -rws_estimate(log_p, log_q, sleep, wake_weight=self.wake_weight, **extra).mean(dim=0)

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}, phi_update={self.phi_update!r}, wake_weight={self.wake_weight}, dreg={self.dreg}"
