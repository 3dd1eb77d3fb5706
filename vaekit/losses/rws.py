"""Reweighted wake-sleep (Bornschein & Bengio 2015; Le et al. 2019), and its DReG wake-phi form (Tucker et al. 2018)."""

from __future__ import annotations

from torch import Tensor

from vaekit._math import dreg_path_term, logmeanexp, self_normalized_weights, weighted_sum, with_grad
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["RWS", "RWSDReG", "rws_estimate", "rws_dreg_estimate"]


def rws_estimate(
    log_p: Tensor, log_q: Tensor, sleep_log_q: Tensor | None = None, *, wake_weight: float = 1.0
) -> Tensor:
    """Per-example RWS estimate: value = the IWAE_K bound, gradient = RWS's theta and phi updates.

    Objective (value):  IWAE_K(x) ~ log (1/K) sum_k w_k,  w_k = p(x, z_k) / q(z_k|x),  z_k ~ q(z|x).
    wake-theta:  sum_k wt_k grad_theta log p(x, z_k),  wt_k = w_k / sum_j w_j (detached):
                 exactly the theta-gradient of IWAE_K (unbiased for it).
    wake-phi:    sum_k wt_k grad_phi log q(z_k|x): a self-normalised estimate of
                 E_{p(z|x)}[grad_phi log q(z|x)] = -grad_phi KL(p(z|x) || q(z|x)); biased for
                 finite K, the bias vanishing as K grows.
    sleep-phi:   (1/N) sum_n grad_phi log q(z'_n|x'_n), (x'_n, z'_n) ~ p(x, z): unbiased for
                 grad_phi E_{p(x,z)}[log q(z|x)] = -grad_phi E_{p(x)} KL(p(z|x) || q(z|x)).
    phi update:  wake_weight * wake-phi + (1 - wake_weight) * sleep-phi.
    A latent with log p = -inf has weight 0 and adds nothing (masked, never NaN).

    Shapes:
        log_p, log_q: ``[B, K]``; sleep_log_q: ``[N]``; returns ``[B]``.

    Args:
        log_p: log p(x, z_k) of latents drawn with no gradient path.
        log_q: log q(z_k|x).
        sleep_log_q: log q(z'|x') of dreams; required when ``wake_weight < 1``.
        wake_weight: the weight of the wake-phi update, in [0, 1] (1: wake only, 0: sleep only).

    References:
        Bornschein & Bengio, "Reweighted Wake-Sleep", ICLR 2015; Le, Kosiorek, Siddharth, Teh &
        Wood, "Revisiting Reweighted Wake-Sleep for Models with Stochastic Control Flow", UAI 2019.

    Example:
        >>> import torch
        >>> [round(v, 4) for v in rws_estimate(torch.zeros(1, 2), torch.log(torch.tensor([[0.5, 2.0]]))).tolist()]
        [0.2231]
    """
    _check_weight(wake_weight, sleep_log_q, "rws_estimate")
    lw = log_p.detach() - log_q.detach()  # [B, K]: the weights and the value need no gradient
    wt = self_normalized_weights(lw)  # [B, K]
    if wake_weight == 1:  # one masked sum (the default): wake-theta and wake-phi share the weights
        surrogate = weighted_sum(wt, log_p + log_q)  # [B]
    elif wake_weight == 0:
        surrogate = weighted_sum(wt, log_p)
    else:
        surrogate = weighted_sum(wt, log_p + wake_weight * log_q)
    return _with_sleep(logmeanexp(lw, dim=-1), surrogate, sleep_log_q, wake_weight)


def rws_dreg_estimate(
    log_p: Tensor,
    log_q_stopped: Tensor,
    log_p_fixed_z: Tensor,
    sleep_log_q: Tensor | None = None,
    *,
    wake_weight: float = 1.0,
) -> Tensor:
    """Per-example RWS estimate with DReG's wake-phi: value = the IWAE_K bound, gradient = RWS's.

    As :func:`rws_estimate`, with the wake-phi update in its doubly reparameterised form
    (Tucker et al. 2018, sec. 3): z_k = g(eps_k, phi) and
    wake-phi:  sum_k (wt_k - wt_k^2) (d log w_k / d z_k)(d z_k / d phi), q's parameters held fixed
               in log w_k: the same expectation as sum_k wt_k grad_phi log q(z_k|x), lower variance.
    wake-theta: sum_k wt_k grad_theta log p(x, z_k) at the detached z_k.

    Shapes:
        log_p, log_q_stopped, log_p_fixed_z: ``[B, K]``; sleep_log_q: ``[N]``; returns ``[B]``.

    Args:
        log_p: log p(x, z_k) with z_k from rsample (gradient through z_k).
        log_q_stopped: log q(z_k|x) under detached parameters (``InfNet.log_prob_detached``).
        log_p_fixed_z: log p(x, z_k) with z_k detached (carries theta's gradient).
        sleep_log_q: log q(z'|x') of dreams; required when ``wake_weight < 1``.
        wake_weight: the weight of the wake-phi update, in (0, 1].

    References:
        Tucker, Lawson, Gu & Maddison, "Doubly Reparameterized Gradient Estimators for Monte Carlo
        Objectives", ICLR 2019 (arXiv 2018), sec. 3; Le et al., UAI 2019.

    Example:
        >>> import torch
        >>> lp = torch.zeros(1, 2)
        >>> [round(v, 4) for v in rws_dreg_estimate(lp, torch.log(torch.tensor([[0.5, 2.0]])), lp).tolist()]
        [0.2231]
    """
    _check_weight(wake_weight, sleep_log_q, "rws_dreg_estimate")
    log_w = log_p - log_q_stopped  # [B, K]: the value of log w; phi's gradient only along z
    wt = self_normalized_weights(log_w)  # [B, K]
    wake_phi = dreg_path_term(wt - wt.pow(2), log_p, log_p_fixed_z, log_q_stopped)  # [B]
    surrogate = weighted_sum(wt, log_p_fixed_z) + wake_weight * wake_phi  # [B]
    return _with_sleep(logmeanexp(log_w, dim=-1), surrogate, sleep_log_q, wake_weight)


def _check_weight(wake_weight: float, sleep_log_q: Tensor | None, where: str) -> None:
    if not 0.0 <= wake_weight <= 1.0:
        raise ValueError(f"{where}: wake_weight must be in [0, 1]; got {wake_weight!r}")
    if wake_weight < 1 and sleep_log_q is None:
        raise ValueError(f"{where}: wake_weight={wake_weight} < 1 needs sleep_log_q (the sleep phase's log q)")


def _with_sleep(bound: Tensor, surrogate: Tensor, sleep_log_q: Tensor | None, wake_weight: float) -> Tensor:
    if wake_weight < 1 and sleep_log_q is not None:
        surrogate = surrogate + (1 - wake_weight) * sleep_log_q.mean()  # the same dream term for every example
    return with_grad(bound, surrogate)


class RWS(Loss):
    """Reweighted wake-sleep with K importance samples: theta ascends IWAE_K, phi fits p(z|x).

    ``loss`` value = -mean_b IWAE_K(x_b) (what wake-theta ascends); gradient: see
    :func:`rws_estimate`. The phi update mixes wake-phi (weight ``wake_weight``; Le et al. find
    wake-phi alone, the default, the best choice) and sleep-phi on ``n_sleep`` dreams from
    ``gen_model.sample`` (weight ``1 - wake_weight``). Latents are drawn with ``sample``, so any
    InfNet works. The sleep phase scores q on dreams, so with ``wake_weight < 1`` the data must
    be what the generative model generates: a separate ``target`` raises ValueError. For DReG's
    wake-phi see :class:`RWSDReG`.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x).
        gen_model: p(x, z); needs ``sample`` when ``wake_weight < 1``.
        n_samples: K >= 1.
        wake_weight: in [0, 1]: 1 is wake-phi only, 0 sleep-phi only.
        n_sleep: dreams per call; None for the batch size.
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.

    References:
        Bornschein & Bengio, ICLR 2015; Le et al., UAI 2019.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = RWS(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6), n_samples=5, wake_weight=0.5)
        >>> loss_fn(torch.bernoulli(torch.full((4, 6), 0.5))).backward()
    """

    reparam = False  # whether the wake phase draws with rsample (RWSDReG)

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 5,
        wake_weight: float = 1.0,
        n_sleep: int | None = None,
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite, sync_every=sync_every)
        name = type(self).__name__
        if isinstance(wake_weight, bool) or not isinstance(wake_weight, (int, float)):
            raise TypeError(f"{name}: wake_weight must be a float; got {type(wake_weight).__name__}")
        if not 0.0 <= wake_weight <= 1.0 or (wake_weight == 0 and self.reparam):
            raise ValueError(
                f"{name}: wake_weight must be in {'(0, 1]' if self.reparam else '[0, 1]'}; got {wake_weight!r}"
                + (
                    " (wake_weight=0 is sleep-phi only, with no wake-phi to refine: use RWS)"
                    if self.reparam and wake_weight == 0
                    else ""
                )
            )
        if n_sleep is not None and (isinstance(n_sleep, bool) or not isinstance(n_sleep, int) or n_sleep < 1):
            raise ValueError(f"{name}: n_sleep must be None or an int >= 1; got {n_sleep!r}")
        if self.reparam:
            self.require_rsample(name)
        self.wake_weight = float(wake_weight)
        self.n_sleep = n_sleep

    def _sleep_phase(self, x: Tensor, target: Tensor) -> Tensor | None:
        if self.wake_weight == 1:
            return None
        if target is not x:
            raise ValueError(f"{type(self).__name__}: the sleep phase needs target == x (dreams are scored by q(z|x))")
        return self.sleep_log_q(x.shape[0] if self.n_sleep is None else self.n_sleep)  # [N]

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        _, log_p, log_q = self.draw(x, target, reparam=False)
        sleep = self._sleep_phase(x, target)
        return rws_estimate(log_p, log_q, sleep, wake_weight=self.wake_weight)

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}, wake_weight={self.wake_weight}, n_sleep={self.n_sleep}"


class RWSDReG(RWS):
    """Reweighted wake-sleep whose wake-phi update is DReG's (Tucker et al. 2018); needs rsample.

    ``loss`` value = -mean_b IWAE_K(x_b); gradient: see :func:`rws_dreg_estimate`. Runs the
    generative model twice per call (at z_k and at detached z_k). ``wake_weight`` in (0, 1]
    mixes in sleep-phi as in :class:`RWS` (0 would leave no wake-phi to refine: use ``RWS``).

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x), with rsample (ValueError at construction otherwise).
        gen_model: p(x, z).
        n_samples: K >= 1.
        wake_weight: in (0, 1].
        n_sleep: dreams per call; None for the batch size.
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.

    References:
        Tucker, Lawson, Gu & Maddison, ICLR 2019, sec. 3; Le et al., UAI 2019.

    Example:
        >>> import torch
        >>> from vaekit.latents import GaussianEncoder, BernoulliDecoder
        >>> loss_fn = RWSDReG(GaussianEncoder(6, 2), BernoulliDecoder(2, 6), n_samples=5)
        >>> loss_fn(torch.bernoulli(torch.full((4, 6), 0.5))).backward()
    """

    reparam = True

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        z, log_p, _ = self.draw(x, target, reparam=True)
        log_q_stopped, log_p_fixed_z = self.stopped_terms(z, target)  # [B, K] each
        sleep = self._sleep_phase(x, target)
        return rws_dreg_estimate(log_p, log_q_stopped, log_p_fixed_z, sleep, wake_weight=self.wake_weight)
