"""Coupled categorical DisARM estimators (Dong, Mnih & Tucker 2021) on the stick-breaking coupling.

A categorical z with probabilities pi (C classes) is coded as C - 1 stick-breaking decisions:
stop at class j with probability s_j = sigmoid(beta_j), beta_j = log pi_j - log sum_{k > j} pi_k,
given that no earlier class stopped; z is the first class that stops (the last class if none).
Drawing every decision from one uniform u_j for z and from 1 - u_j for z~ (``b_j = 1[u_j < s_j]``,
``b~_j = 1[u_j > 1 - s_j]``) couples two draws z, z~ that are each exactly ~ q (the stick-breaking
coupling). Two estimators use the coupled pair:

- ``DisARM-SB`` (:class:`CategoricalDisARM`): DisARM on the binary decisions (the categorical
  reparameterised as a sequence of binaries), optionally Rao-Blackwellised over the decisions
  that one or both draws never read.
- ``DisARM-IW`` (:class:`CategoricalDisARMIW`): the two-sample leave-one-out REINFORCE estimator
  importance-weighted from the independent pair to the coupled one, per variable.

On Bernoulli latents (an InfNet without ``one_hot = True``) both are DisARM.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vaekit._math import with_grad
from vaekit.latents.discrete import discrete_logits, is_one_hot, possible, score_latents
from vaekit.latents.noise import uniform_noise
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = [
    "CategoricalDisARM",
    "CategoricalDisARMIW",
    "categorical_disarm_estimate",
    "categorical_disarm_iw_estimate",
    "stick_breaking_logits",
    "stick_breaking_one_hot",
    "stick_breaking_pair",
    "stick_breaking_coupling",
]

_ORDERS = (None, "ascending", "descending")


def stick_breaking_logits(logits: Tensor) -> Tensor:
    """Logits of the C - 1 binary decisions coding a categorical: beta_j = log pi_j - log sum_{k > j} pi_k.

    Drawing b_j ~ Bernoulli(sigmoid(beta_j)) independently and taking z = the first j with b_j = 1
    (the last class if none) gives P(z = j) = pi_j.

    Shapes:
        logits: ``[..., C]``; returns ``[..., C - 1]``.
    """
    lp = F.log_softmax(logits, dim=-1)  # [..., C]
    suffix = torch.logcumsumexp(lp.flip(-1), dim=-1).flip(-1)  # [..., C]: log sum_{k >= j} pi_k
    return lp[..., :-1] - suffix[..., 1:]  # [..., C - 1]


def stick_breaking_one_hot(b: Tensor) -> Tensor:
    """One-hot class of binary decisions ``b`` ``[..., C - 1]``: the first 1, or the last class: ``[..., C]``."""
    return F.one_hot(_first_stop(b), b.shape[-1] + 1)


def _first_stop(b: Tensor) -> Tensor:
    """Index of the first decision that is 1 (C - 1 if none): ``[..., C - 1]`` -> ``[...]`` int64."""
    stops = torch.cat([b > 0.5, torch.ones_like(b[..., :1], dtype=torch.bool)], dim=-1)  # [..., C]
    return stops.to(torch.uint8).argmax(-1)  # argmax returns the first maximum


def stick_breaking_pair(beta: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """The stick-breaking coupling: decisions ``b = 1[u < sigmoid(beta)]``, ``b~ = 1[u > sigmoid(-beta)]``.

    Each of the two decision vectors is a draw of independent Bernoulli(sigmoid(beta_j)), so each
    coded class (:func:`stick_breaking_one_hot`) is exactly ~ q; the pair shares ``u`` antithetically.

    Shapes:
        beta, u: ``[..., C - 1]``; returns two bool tensors ``[..., C - 1]``.

    Example:
        >>> b, bt = stick_breaking_pair(torch.zeros(2), torch.tensor([0.3, 0.7]))
        >>> b.tolist(), bt.tolist()
        ([True, False], [False, True])
    """
    return u < torch.sigmoid(beta), u > torch.sigmoid(-beta)


def _check_order(logits_order: object, who: str) -> str | None:
    if logits_order is not None and not isinstance(logits_order, str):
        raise TypeError(
            f"{who}: logits_order must be None, 'ascending' or 'descending'; got {type(logits_order).__name__}"
        )
    if logits_order not in _ORDERS:
        raise ValueError(f"{who}: logits_order must be None, 'ascending' or 'descending'; got {logits_order!r}")
    return logits_order


def _coding_order(logits: Tensor, logits_order: str | None) -> Tensor | None:
    """The classes in coding order (``perm[..., j]`` = the class decided at step j), or None for 0..C-1."""
    if logits_order is None:
        return None
    return logits.detach().argsort(dim=-1, descending=logits_order == "descending", stable=True)


def _check_pair_shapes(logits: Tensor, u: Tensor, f: Tensor, f_anti: Tensor, one_hot: bool, who: str) -> None:
    for name, t in (("logits", logits), ("u", u), ("f", f), ("f_anti", f_anti)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}: {name} must be a Tensor; got {type(t).__name__}")
    if one_hot:
        if logits.dim() < 2 or logits.shape[-1] < 2:
            raise ValueError(f"{who}: logits must be [B, *vars, C] with C >= 2 classes; got {tuple(logits.shape)}")
        want = (*logits.shape[:-1], logits.shape[-1] - 1)
    else:
        want = tuple(logits.shape)
    if tuple(u.shape) != want:
        raise ValueError(f"{who}: u must have shape {want} (one uniform per decision); got {tuple(u.shape)}")
    for name, t in (("f", f), ("f_anti", f_anti)):
        if tuple(t.shape) != (logits.shape[0],):
            raise ValueError(f"{who}: {name} must be [B] = {(logits.shape[0],)}; got {tuple(t.shape)}")


def stick_breaking_coupling(logits: Tensor, u: Tensor, *, logits_order: str | None = None) -> tuple[Tensor, Tensor]:
    """The coupled pair (z, z~) of one-hot categoricals, each exactly ~ softmax(logits), from shared uniforms ``u``.

    The classes are coded in ``logits_order`` (``None``: as given; ``"ascending"`` / ``"descending"``:
    sorted by the detached logits); decision j of the coding is ``b_j = 1[u_j < s_j]`` for z and
    ``b~_j = 1[u_j > 1 - s_j]`` for z~ (:func:`stick_breaking_pair`), each draw is the first class
    that stops (the last if none), returned in the original class order.

    Shapes:
        logits: ``[..., C]``; u: ``[..., C - 1]``; returns two one-hot tensors ``[..., C]`` in logits' dtype.

    Example:
        >>> z, zt = stick_breaking_coupling(torch.zeros(3), torch.tensor([0.2, 0.9]))
        >>> z.tolist(), zt.tolist()
        ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    """
    _check_order(logits_order, "stick_breaking_coupling")
    perm = _coding_order(logits, logits_order)
    coded = logits.detach() if perm is None else logits.detach().gather(-1, perm)
    out = []
    for b in stick_breaking_pair(stick_breaking_logits(coded), u):
        z = stick_breaking_one_hot(b).to(logits.dtype)  # [..., C] in coding order
        out.append(z if perm is None else torch.zeros_like(z).scatter(-1, perm, z))
    return out[0], out[1]


def _signal(f: Tensor, f_anti: Tensor, like: Tensor) -> Tensor:
    """1/2 (f - f~), detached, reshaped to broadcast against ``like`` ``[B, ...]``."""
    return 0.5 * (f - f_anti).detach().reshape(-1, *([1] * (like.dim() - 1)))


def categorical_disarm_estimate(
    logits: Tensor,
    u: Tensor,
    f: Tensor,
    f_anti: Tensor,
    *,
    one_hot: bool = True,
    rao_blackwell: bool = False,
    logits_order: str | None = None,
) -> Tensor:
    """DisARM-SB: DisARM on the stick-breaking decisions; value = (f(z) + f(z~)) / 2.

    Coding:    beta = stick_breaking_logits(a) (classes in ``logits_order``); b = 1[u < sigmoid(beta)],
               b~ = 1[u > sigmoid(-beta)]; z, z~ = the coded classes of b, b~
               (:func:`stick_breaking_coupling`: both ~ q, coupled through u).
    Gradient:  DisARM for the independent binaries, in each decision logit beta_j

                   g_j = 1/2 (f(z) - f(z~)) (-1)^{b~_j} 1[b_j != b~_j] sigmoid(|beta_j|),

               pulled back to the logits by the chain rule through beta(a).
    Rao-Blackwellised (``rao_blackwell=True``): decision j is read by z only if z stops at j or
    later, likewise for z~. Conditioning g_j on everything but the unread decision gives, exactly,

                   both read j:      g_j as above;
                   only z reads j:   1/2 (f(z) - f(z~)) (b_j - sigmoid(beta_j));
                   only z~ reads j:  1/2 (f(z) - f(z~)) (sigmoid(beta_j) - b~_j);
                   neither:          0

    (under the antithetic pair E[(-1)^{b~} 1[b != b~] sigmoid(|beta|) | b] = b - sigmoid(beta)),
    so each term keeps its mean and its second moment cannot grow.
    With ``one_hot=False`` the logits are those of Bernoulli latents (beta = a): plain DisARM.

    Shapes:
        logits: ``[B, *vars, C]``; u: ``[B, *vars, C - 1]``; f, f_anti: ``[B]``; returns ``[B]``
        (Bernoulli: logits and u ``[B, *z_shape]``).

    References:
        Dong, Mnih & Tucker, "Coupled gradient estimators for discrete latent variables", NeurIPS 2021
        (the stick-breaking reparameterisation and Rao-Blackwellisation); Dong, Mnih & Tucker,
        "DisARM", NeurIPS 2020.

    Example:
        >>> import torch
        >>> a = torch.zeros(1, 1, 3, requires_grad=True)
        >>> categorical_disarm_estimate(a, torch.rand(1, 1, 2), torch.ones(1), torch.ones(1)).tolist()
        [1.0]
    """
    _check_pair_shapes(logits, u, f, f_anti, one_hot, "categorical_disarm_estimate")
    _check_order(logits_order, "categorical_disarm_estimate")
    value = 0.5 * (f + f_anti)  # [B]
    f, f_anti = possible(f), possible(f_anti)  # an impossible latent (-inf) adds no term to the surrogate
    if one_hot:
        perm = _coding_order(logits, logits_order)
        beta = stick_breaking_logits(logits if perm is None else logits.gather(-1, perm))  # [B, *vars, C - 1]
    else:
        beta = logits
    bd = beta.detach()
    b, b_anti = stick_breaking_pair(bd, u)
    sign = 1.0 - 2.0 * b_anti.to(bd.dtype)
    weight = torch.where(b != b_anti, sign * torch.sigmoid(bd.abs()), torch.zeros_like(bd))  # [B, *vars, C - 1]
    if rao_blackwell and one_hot:
        j = torch.arange(bd.shape[-1], device=bd.device)  # [C - 1]
        reads = j <= _first_stop(b).unsqueeze(-1)  # [B, *vars, C - 1]: z reached decision j
        reads_anti = j <= _first_stop(b_anti).unsqueeze(-1)
        s = torch.sigmoid(bd)
        alone = torch.where(reads, b.to(bd.dtype) - s, torch.where(reads_anti, s - b_anti.to(bd.dtype), 0.0))
        weight = torch.where(reads & reads_anti, weight, alone)
    surrogate = 0.5 * (f + f_anti) + (_signal(f, f_anti, beta) * weight * beta).flatten(1).sum(-1)  # [B]
    return with_grad(value, surrogate)


def categorical_disarm_iw_estimate(
    logits: Tensor, u: Tensor, f: Tensor, f_anti: Tensor, *, one_hot: bool = True
) -> Tensor:
    """DisARM-IW: importance-weighted two-sample REINFORCE-LOO on the stick-breaking coupling.

    Derivation (Dong, Mnih & Tucker 2021): two independent draws z, z~ ~ q give the unbiased
    leave-one-out estimator 1/2 (f(z) - f(z~)) (grad log q(z) - grad log q(z~)). Drawing the pair
    from a coupling q(z, z~) with both marginals q instead, and importance-weighting by
    q(z) q(z~) / q(z, z~), keeps it unbiased wherever the coupling covers every pair; per latent
    variable v (the other variables' pairs only need their marginals, so only v's weight enters
    v's gradient):

        g_v = w_v 1/2 (f(z) - f(z~)) (e_{z_v} - e_{z~_v}),   w_v = pi_{z_v} pi_{z~_v} / q(z_v, z~_v),

    in the logits a_v (grad_a log softmax(a)_k = e_k - pi). The coupling is the stick-breaking one
    (:func:`stick_breaking_coupling`) with the classes coded in ascending order of their logits:
    then every decision probability s_j = sigmoid(beta_j) before the last is <= 1/2, so both draws
    can pass every decision and q(z, z~) > 0 for all pairs (in another order a decision with
    s_j > 1/2 stops one of the two draws for sure and the estimator is biased). For two different
    coded classes l < h,

        q(l, h) = prod_{j < l} (1 - 2 s_j) * min(s_l, 1 - s_l) * prod_{l < j < h} (1 - s_j) * s_h

    (s_h read as 1 for the last class), so the weight is

        w_v = sigmoid(|beta_l|) * prod_{j < l} (1 - s_j)^2 / (1 - 2 s_j),   l = min(z_v, z~_v),

    and 0 where z_v = z~_v (the score difference vanishes). With C = 2 (and on Bernoulli latents,
    ``one_hot=False``) w = sigmoid(|beta|) and g is DisARM exactly. Value = (f(z) + f(z~)) / 2.

    Shapes:
        logits: ``[B, *vars, C]``; u: ``[B, *vars, C - 1]`` (decision j is that of the j-th
        smallest logit); f, f_anti: ``[B]`` at ``stick_breaking_coupling(logits, u,
        logits_order="ascending")``; returns ``[B]`` (Bernoulli: logits and u ``[B, *z_shape]``).

    References:
        Dong, Mnih & Tucker, "Coupled gradient estimators for discrete latent variables", NeurIPS 2021
        (the importance-sampling derivation of DisARM and its categorical extension with couplings).

    Example:
        >>> import torch
        >>> a = torch.zeros(1, 1, 2, requires_grad=True)
        >>> categorical_disarm_iw_estimate(a, torch.tensor([[[0.2]]]), torch.ones(1), torch.zeros(1)).backward()
        >>> a.grad.tolist()  # z = 0, z~ = 1, w = sigmoid(0): 1/2 * 1 * 0.5 * (e_0 - e_1)
        [[[0.25, -0.25]]]
    """
    _check_pair_shapes(logits, u, f, f_anti, one_hot, "categorical_disarm_iw_estimate")
    value = 0.5 * (f + f_anti)  # [B]
    f, f_anti = possible(f), possible(f_anti)
    if one_hot:
        logits = logits.gather(-1, _coding_order(logits, "ascending"))  # type: ignore[arg-type]
    else:  # Bernoulli logits a: the two-class logits [a, 0] (coded class 0 = latent 1), one decision beta = a
        logits, u = torch.stack([logits, torch.zeros_like(logits)], dim=-1), u.unsqueeze(-1)
    bd = stick_breaking_logits(logits.detach())  # [B, *vars, C - 1]
    b, b_anti = stick_breaking_pair(bd, u)
    z, z_anti = _first_stop(b), _first_stop(b_anti)  # [B, *vars]: coded classes
    low = torch.minimum(z, z_anti)
    j = torch.arange(bd.shape[-1], device=bd.device)  # [C - 1]
    # both draws passed every j < low, so s_j < 1/2 there: log(1 - 2 s_j) = log tanh(-beta_j / 2)
    tiny = torch.finfo(bd.dtype).tiny
    log_ratio = 2.0 * F.logsigmoid(-bd) - torch.log(torch.tanh(-0.5 * bd).clamp_min(tiny))  # [B, *vars, C - 1]
    log_w = torch.where(j < low.unsqueeze(-1), log_ratio, torch.zeros_like(bd)).sum(-1)  # [B, *vars]
    beta_low = bd.gather(-1, low.clamp_max(bd.shape[-1] - 1).unsqueeze(-1)).squeeze(-1)
    w = torch.where(z != z_anti, (log_w + F.logsigmoid(beta_low.abs())).exp(), torch.zeros_like(log_w))
    lp = F.log_softmax(logits, dim=-1)  # [B, *vars, C]
    score = lp.gather(-1, z.unsqueeze(-1)).squeeze(-1) - lp.gather(-1, z_anti.unsqueeze(-1)).squeeze(-1)
    surrogate = 0.5 * (f + f_anti) + (_signal(f, f_anti, w) * w * score).flatten(1).sum(-1)  # [B]
    return with_grad(value, surrogate)


class _CoupledPair(Loss):
    """Shared forward of the stick-breaking-coupled estimators: draw the pair, score it once, estimate."""

    def __init__(
        self, inf_net: InfNet, gen_model: GenModel, *, logits_order: str | None = None, check_finite: bool = True
    ):
        super().__init__(inf_net, gen_model, n_samples=2, check_finite=check_finite)
        self.logits_order = _check_order(logits_order, type(self).__name__)

    def _estimate(self, logits: Tensor, u: Tensor, f: Tensor, f_anti: Tensor, one_hot: bool) -> Tensor:
        raise NotImplementedError

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        inf = self.inf_net(x)
        logits = discrete_logits(inf, type(self).__name__)  # [B, *vars, C] or Bernoulli [B, *z_shape]
        one_hot = is_one_hot(inf)
        a = logits.detach()
        if one_hot:
            u = uniform_noise((*a.shape[:-1], a.shape[-1] - 1), dtype=a.dtype, device=a.device)
            z = torch.stack(stick_breaking_coupling(a, u, logits_order=self.logits_order), dim=1)  # [B, 2, *vars, C]
        else:
            u = uniform_noise(a.shape, dtype=a.dtype, device=a.device)
            z = torch.stack([b.to(a.dtype) for b in stick_breaking_pair(a, u)], dim=1)  # [B, 2, *z_shape]
        log_p, log_q = score_latents(inf, self.gen_model, target, z, type(self).__name__, detach_q=True)  # [B, 2]
        self.keep_log_weights(log_p, log_q)
        f = log_p - log_q  # [B, 2]
        return self._estimate(logits, u, f[:, 0], f[:, 1], one_hot)


class CategoricalDisARM(_CoupledPair):
    """DisARM-SB: negative ELBO with DisARM on the stick-breaking decisions of one-hot categorical latents.

    Two evaluations of log p / log q per step (the coupled pair z, z~, scored in one call of each
    model: ``log_p_``, ``log_q_`` ``[B, 2]``); q's parameters get the gradient through the logits only.
    ``rao_blackwell=True`` replaces each decision's term by its conditional expectation given the
    decisions the pair reads (see :func:`categorical_disarm_estimate`). ``logits_order``
    (``None``, ``"ascending"``, ``"descending"``) codes the classes in the order of their
    (detached) logits, a relabelling per draw that keeps the estimator unbiased. On Bernoulli
    latents (an InfNet without ``one_hot = True``) it is DisARM.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar.

    References:
        Dong, Mnih & Tucker, "Coupled gradient estimators for discrete latent variables", NeurIPS 2021.

    Example:
        >>> import torch
        >>> from vaekit.latents import CategoricalEncoder, CategoricalDecoder
        >>> loss_fn = CategoricalDisARM(CategoricalEncoder(6, 3, 4), CategoricalDecoder(3, 4, 6))
        >>> loss_fn(torch.ones(2, 6)).backward(); tuple(loss_fn.log_p_.shape)
        (2, 2)
    """

    unbiased = True

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        rao_blackwell: bool = False,
        logits_order: str | None = None,
        check_finite: bool = True,
    ):
        super().__init__(inf_net, gen_model, logits_order=logits_order, check_finite=check_finite)
        if not isinstance(rao_blackwell, bool):
            raise TypeError(f"CategoricalDisARM: rao_blackwell must be a bool; got {type(rao_blackwell).__name__}")
        self.rao_blackwell = rao_blackwell

    def _estimate(self, logits: Tensor, u: Tensor, f: Tensor, f_anti: Tensor, one_hot: bool) -> Tensor:
        return categorical_disarm_estimate(
            logits, u, f, f_anti, one_hot=one_hot, rao_blackwell=self.rao_blackwell, logits_order=self.logits_order
        )


class CategoricalDisARMIW(_CoupledPair):
    """DisARM-IW: negative ELBO with the importance-weighted coupled categorical estimator: two evaluations.

    The pair z, z~ is drawn from the stick-breaking coupling with the classes coded in ascending
    order of their logits (each draw ~ q; every pair possible) and the two-sample REINFORCE-LOO
    gradient is importance-weighted per variable by pi_z pi_z~ / q(z, z~) (see
    :func:`categorical_disarm_iw_estimate`); with two classes, and on Bernoulli latents, it is DisARM.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar.

    References:
        Dong, Mnih & Tucker, "Coupled gradient estimators for discrete latent variables", NeurIPS 2021.

    Example:
        >>> import torch
        >>> from vaekit.latents import CategoricalEncoder, CategoricalDecoder
        >>> loss_fn = CategoricalDisARMIW(CategoricalEncoder(6, 3, 4), CategoricalDecoder(3, 4, 6))
        >>> loss_fn(torch.ones(2, 6)).backward(); tuple(loss_fn.log_q_.shape)
        (2, 2)
    """

    unbiased = True

    def __init__(self, inf_net: InfNet, gen_model: GenModel, *, check_finite: bool = True):
        super().__init__(inf_net, gen_model, logits_order="ascending", check_finite=check_finite)

    def _estimate(self, logits: Tensor, u: Tensor, f: Tensor, f_anti: Tensor, one_hot: bool) -> Tensor:
        return categorical_disarm_iw_estimate(logits, u, f, f_anti, one_hot=one_hot)
