"""The one list of losses that the common contract test (test_contract.py) runs over.

Append a case for every Loss subclass exported from ``vaekit`` (test_contract fails otherwise):

    LOSS_CASES.append(LossCase("Reinforce+loo", lambda q, p: Reinforce(q, p, n_samples=3, baselines=[LeaveOneOut()])))

A plain ``(name, factory)`` tuple is accepted too. ``factory(inf_net, gen_model) -> Loss``.
Fields of :class:`LossCase`:

- ``needs_rsample``: the loss needs a reparameterisable q; the contract test then builds a
  Gaussian model (GaussianEncoder + a Gaussian-prior decoder) instead of a sigmoid belief net.
- ``bound``: ``bound(log_p, log_q) -> [B]`` from the stored ``log_p_``/``log_q_``; when given,
  the test checks ``loss == -bound(log_p_, log_q_).mean()``. Leave None where the value is not
  a function of the last draw alone (e.g. a wake-sleep loss that adds a sleep-phase term).
- ``supports_target``: whether ``loss_fn(x, target=y)`` with a gen model over y (of another
  width than x) is meaningful. If False the test expects a ValueError for such a target.
- ``stateful``: the loss changes its own state on each call (a learned or running baseline);
  the state_dict round-trip then also compares the state after one call.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import Tensor

from torch import nn

from vaekit import ELBO, IWAE, VIMCO, GenModel, InfNet, Loss, logmeanexp
from vaekit import RWS, STL, DReG, LeaveOneOut, MovingAverage, Reinforce, WakeSleep, nvil_baselines


def elbo_bound(log_p: Tensor, log_q: Tensor) -> Tensor:
    """(1/K) sum_k log w_k, ``[B]``."""
    return (log_p - log_q).mean(dim=-1)


def iwae_bound(log_p: Tensor, log_q: Tensor) -> Tensor:
    """log (1/K) sum_k w_k, ``[B]``."""
    return logmeanexp(log_p - log_q, dim=-1)


@dataclass(frozen=True)
class LossCase:
    name: str
    factory: Callable[[InfNet, GenModel], Loss]
    needs_rsample: bool = False
    bound: Callable[[Tensor, Tensor], Tensor] | None = None
    supports_target: bool = True
    stateful: bool = False

    def __str__(self) -> str:
        return self.name


def as_case(item: LossCase | tuple) -> LossCase:
    """A ``LossCase`` from a case or a ``(name, factory[, needs_rsample])`` tuple."""
    return item if isinstance(item, LossCase) else LossCase(*item)


LOSS_CASES: list[LossCase | tuple] = [
    LossCase("ELBO-score", lambda q, p: ELBO(q, p, n_samples=2, pathwise=False), bound=elbo_bound),
    LossCase("ELBO-pathwise", lambda q, p: ELBO(q, p, n_samples=2), needs_rsample=True, bound=elbo_bound),
    LossCase("IWAE-score", lambda q, p: IWAE(q, p, n_samples=3, pathwise=False), bound=iwae_bound),
    LossCase("IWAE-pathwise", lambda q, p: IWAE(q, p, n_samples=3), needs_rsample=True, bound=iwae_bound),
    LossCase("VIMCO", lambda q, p: VIMCO(q, p, n_samples=3), bound=iwae_bound),
]


def _baseline_net(q: InfNet) -> nn.Module:
    """A linear C_psi(x) sized and typed like the first Linear layer of q (for learned-baseline cases)."""
    first = next(m for m in q.modules() if isinstance(m, nn.Linear))
    return nn.Linear(first.in_features, 1).to(first.weight.dtype)


LOSS_CASES += [
    LossCase("Reinforce", lambda q, p: Reinforce(q, p, n_samples=2), bound=elbo_bound),
    LossCase("Reinforce+ma+loo+vn", lambda q, p: Reinforce(q, p, n_samples=3, baselines=[MovingAverage(), LeaveOneOut()],
                                                           variance_normalization=True),
             bound=elbo_bound, stateful=True),
    LossCase("Reinforce+nvil", lambda q, p: Reinforce(q, p, n_samples=2, baselines=nvil_baselines(_baseline_net(q))),
             bound=elbo_bound, stateful=True),
    LossCase("WakeSleep", lambda q, p: WakeSleep(q, p, n_samples=2), bound=elbo_bound, supports_target=False),
    LossCase("RWS-wake", lambda q, p: RWS(q, p, n_samples=3), bound=iwae_bound),
    LossCase("RWS-mixture", lambda q, p: RWS(q, p, n_samples=3, phi_update="mixture"), bound=iwae_bound,
             supports_target=False),
    LossCase("RWS-dreg", lambda q, p: RWS(q, p, n_samples=3, dreg=True), needs_rsample=True, bound=iwae_bound),
    LossCase("STL-elbo", lambda q, p: STL(q, p, n_samples=2), needs_rsample=True, bound=elbo_bound),
    LossCase("STL-iwae", lambda q, p: STL(q, p, n_samples=3, objective="iwae"), needs_rsample=True, bound=iwae_bound),
    LossCase("DReG", lambda q, p: DReG(q, p, n_samples=3), needs_rsample=True, bound=iwae_bound),
]


# -- Rényi (VR) and thermodynamic (TVO) objectives (issue 13) -------------------------------------
import torch  # noqa: E402

from vaekit import TVO, VR, VRScore  # noqa: E402


def vr_bound(alpha: float) -> Callable[[Tensor, Tensor], Tensor]:
    """(1/(1-alpha)) log (1/K) sum_k w_k^(1-alpha), ``[B]`` (alpha != 1)."""
    t = 1.0 - alpha
    return lambda log_p, log_q: logmeanexp(t * (log_p - log_q), dim=-1) / t


def tvo_bound(partition: list[float]) -> Callable[[Tensor, Tensor], Tensor]:
    """sum_n (b_{n+1} - b_n) sum_k softmax(b_n log w)_k log w_k, ``[B]``."""

    def bound(log_p: Tensor, log_q: Tensor) -> Tensor:
        log_w = log_p - log_q
        return sum((hi - lo) * (log_w.mul(lo).softmax(dim=-1) * log_w).sum(dim=-1)
                   for lo, hi in zip(partition[:-1], partition[1:]))

    return bound


_TVO_GRID = [0.0, 0.1, 0.4, 1.0]

LOSS_CASES += [
    LossCase("VR-0.5", lambda q, p: VR(q, p, alpha=0.5, n_samples=3), needs_rsample=True, bound=vr_bound(0.5)),
    LossCase("VR-neg", lambda q, p: VR(q, p, alpha=-1.0, n_samples=3), needs_rsample=True, bound=vr_bound(-1.0)),
    LossCase("VRScore-0.5", lambda q, p: VRScore(q, p, alpha=0.5, n_samples=3), bound=vr_bound(0.5)),
    LossCase("VRScore-1", lambda q, p: VRScore(q, p, alpha=1.0, n_samples=3), bound=elbo_bound),
    LossCase(
        "TVO",
        lambda q, p: TVO(q, p, n_samples=3, partition=torch.tensor(_TVO_GRID, dtype=torch.float64)),
        bound=tvo_bound(_TVO_GRID),
    ),
]


# NVIL with per-layer learning signals and per-layer baselines (one layer on non-layered models)
from vaekit import NVIL  # noqa: E402


def _layer_nets(q: InfNet) -> list[nn.Module]:
    """One linear C_i(h^{i-1}) per layer of q (x for the first), typed like q."""
    first = _baseline_net(q)
    sizes = getattr(q, "layer_sizes", None)
    if sizes is None:
        return [first]
    return [first] + [nn.Linear(h, 1).to(first.weight.dtype) for h in sizes[:-1]]


LOSS_CASES += [
    LossCase("NVIL-layers", lambda q, p: NVIL(q, p, n_samples=2, baseline_nets=_layer_nets(q)), bound=elbo_bound,
             stateful=True),
]
