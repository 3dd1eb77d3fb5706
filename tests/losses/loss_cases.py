"""The one list of losses that the common tests (contract, errors, compile, models) run over, and
the one factory of the small models they run on.

Append a case for every Loss subclass exported from ``vaekit`` (test_contract fails otherwise):

    LOSS_CASES.append(LossCase("Reinforce+loo", lambda q, p: Reinforce(q, p, n_samples=3, baselines=[LeaveOneOut()]),
                               reference=...))

A plain ``(name, factory)`` tuple is accepted too. ``factory(inf_net, gen_model) -> Loss``.
Build the models with :func:`make_models` (or ``case.build()``), never by hand. Fields of
:class:`LossCase`:

- ``needs_rsample``: the loss needs a reparameterisable q; :func:`make_models` then builds a
  Gaussian-latent model (GaussianEncoder + BernoulliDecoder) instead of a sigmoid belief net.
- ``bound``: ``bound(log_p, log_q) -> [B]`` from the stored ``log_p_``/``log_q_``; when given,
  the test checks ``loss == -bound(log_p_, log_q_).mean()``. Leave None where the value is not
  a function of the last draw alone.
- ``reference``: ``(loss_fn, x) -> [B]``: replays the module's draws with its own helpers
  (``draw``, ``stopped_terms``, ``sleep_log_q``) and returns the float64 loop reference of
  ``vaekit.testing.references`` on them; ``assert_loss_matches_reference`` then checks the module's
  value and every parameter gradient against it. Every case has one (test_contract checks).
- ``supports_target``: whether ``loss_fn(x, target=y)`` with a gen model over y (of another
  width than x) is meaningful. If False the test expects a ValueError for such a target.
- ``stateful``: the loss changes its own state on each call (a learned or running baseline);
  the state_dict round-trip then also compares the state after one call.
- ``needs_logits``: the loss reads a factorised q's logits, ``inf_net.params_["logits"]`` (the
  agreed protocol of Bernoulli/categorical InfNets, e.g. discrete-latent estimators). Tests on
  models without that key (the multi-layer models of test_contract_layered) skip such cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vaekit import (
    ELBO,
    IWAE,
    RWS,
    STL,
    VIMCO,
    BernoulliDecoder,
    BernoulliEncoder,
    DReG,
    GaussianEncoder,
    GenModel,
    InfNet,
    LeaveOneOut,
    Loss,
    MovingAverage,
    Reinforce,
    RWSDReG,
    SigmoidBeliefNet,
    VarianceNormalization,
    WakeSleep,
    logmeanexp,
    nvil_baselines,
    with_grad,
)
from vaekit.testing import (
    dreg_reference,
    elbo_reference,
    iwae_reference,
    loo_baseline_reference,
    reinforce_reference,
    rws_dreg_reference,
    rws_reference,
    stl_reference,
    vimco_reference,
    wake_sleep_reference,
)

D, H = 4, 2  # default data width and latent width of make_models


def make_models(
    needs_rsample: bool,
    *,
    dtype: torch.dtype = torch.float64,
    data_dim: int = D,
    latent_dim: int = H,
    out_dim: int | None = None,
    gen_cls: type | None = None,
) -> tuple[InfNet, GenModel]:
    """The one factory of the shared tests' models: q over x of width ``data_dim``, p over data of
    width ``out_dim`` (default ``data_dim``); Gaussian latents if ``needs_rsample``, else binary."""
    out = data_dim if out_dim is None else out_dim
    if needs_rsample:
        q, p = GaussianEncoder(data_dim, latent_dim), (gen_cls or BernoulliDecoder)(latent_dim, out)
    else:
        q, p = BernoulliEncoder(data_dim, latent_dim), (gen_cls or SigmoidBeliefNet)(latent_dim, out)
    return q.to(dtype), p.to(dtype)


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
    reference: Callable[[Loss, Tensor], Tensor] | None = None
    needs_logits: bool = False

    def __str__(self) -> str:
        return self.name

    def build(self, **kw) -> Loss:
        """The loss on models from :func:`make_models` (keyword arguments go there)."""
        return self.factory(*make_models(self.needs_rsample, **kw))


def as_case(item: LossCase | tuple) -> LossCase:
    """A ``LossCase`` from a case or a ``(name, factory[, needs_rsample])`` tuple."""
    return item if isinstance(item, LossCase) else LossCase(*item)


# -- replayed references: each draws as its module does, then scores with the loop reference --------
def _wake(m: Loss, x: Tensor, reparam: bool) -> tuple[Tensor, Tensor]:
    _, log_p, log_q = m.draw(x, x, reparam=reparam)
    return log_p, log_q


def _stopped(m: Loss, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    z, log_p, _ = m.draw(x, x, reparam=True)
    log_q_stopped, log_p_fixed_z = m.stopped_terms(z, x)
    return log_p, log_q_stopped, log_p_fixed_z


def _reinforce_with_baselines(m: Loss, x: Tensor) -> Tensor:
    """Reinforce's baselines written out:
    [MovingAverage, LeaveOneOut | InputDependentBaseline, VarianceNormalization]."""
    log_p, log_q = _wake(m, x, False)
    signal = (log_p - log_q).detach()  # [B, K]
    ma, middle, vn = m.baselines
    c = ma.value.to(signal.dtype)  # 0 before the first update
    if isinstance(middle, LeaveOneOut):
        b_mid, fit = loo_baseline_reference(signal - c), 0.0
    else:  # NVIL's C_psi(x), fitted by least squares to the signal it sees
        net_out = middle.net(x).reshape(-1, 1)  # [B, 1]
        b_mid = net_out.detach().expand_as(signal)
        fit = ((signal - c - net_out) ** 2).mean()
    scale = max(1.0, float(vn.variance) ** 0.5)  # variance 0 before the first update
    out = reinforce_reference(log_p, log_q, c + b_mid, scale)  # [B]
    return with_grad(out, out - fit)  # the fit penalty enters the gradient only


LOSS_CASES: list[LossCase | tuple] = [
    LossCase(
        "ELBO",
        lambda q, p: ELBO(q, p, n_samples=2),
        needs_rsample=True,
        bound=elbo_bound,
        reference=lambda m, x: elbo_reference(*_wake(m, x, True), score_function=False),
    ),
    LossCase(
        "IWAE-score",
        lambda q, p: IWAE(q, p, n_samples=3, pathwise=False),
        bound=iwae_bound,
        reference=lambda m, x: iwae_reference(*_wake(m, x, False), score_function=True),
    ),
    LossCase(
        "IWAE-pathwise",
        lambda q, p: IWAE(q, p, n_samples=3),
        needs_rsample=True,
        bound=iwae_bound,
        reference=lambda m, x: iwae_reference(*_wake(m, x, True), score_function=False),
    ),
    LossCase(
        "VIMCO",
        lambda q, p: VIMCO(q, p, n_samples=3),
        bound=iwae_bound,
        reference=lambda m, x: vimco_reference(*_wake(m, x, False)),
    ),
]


def _baseline_net(q: InfNet) -> nn.Module:
    """A linear C_psi(x) sized and typed like the first Linear layer of q (for learned-baseline cases)."""
    first = next(m for m in q.modules() if isinstance(m, nn.Linear))
    return nn.Linear(first.in_features, 1).to(first.weight.dtype)


def _sleep(m: Loss, x: Tensor) -> Tensor:
    return m.sleep_log_q(x.shape[0])


LOSS_CASES += [
    LossCase(
        "Reinforce",
        lambda q, p: Reinforce(q, p, n_samples=2),
        bound=elbo_bound,
        reference=lambda m, x: reinforce_reference(*_wake(m, x, False), torch.zeros(x.shape[0], 2)),
    ),
    LossCase(
        "Reinforce+ma+loo+vn",
        lambda q, p: Reinforce(q, p, n_samples=3, baselines=[MovingAverage(), LeaveOneOut(), VarianceNormalization()]),
        bound=elbo_bound,
        stateful=True,
        reference=_reinforce_with_baselines,
    ),
    LossCase(
        "Reinforce+nvil",
        lambda q, p: Reinforce(q, p, n_samples=2, baselines=nvil_baselines(_baseline_net(q))),
        bound=elbo_bound,
        stateful=True,
        reference=_reinforce_with_baselines,
    ),
    LossCase(
        "WakeSleep",
        lambda q, p: WakeSleep(q, p, n_samples=2),
        bound=elbo_bound,
        supports_target=False,
        reference=lambda m, x: wake_sleep_reference(*_wake(m, x, False), _sleep(m, x)),
    ),
    LossCase(
        "RWS",
        lambda q, p: RWS(q, p, n_samples=3),
        bound=iwae_bound,
        reference=lambda m, x: rws_reference(*_wake(m, x, False)),
    ),
    LossCase(
        "RWS-wake_weight",
        lambda q, p: RWS(q, p, n_samples=3, wake_weight=0.5),
        bound=iwae_bound,
        supports_target=False,
        reference=lambda m, x: rws_reference(*_wake(m, x, False), _sleep(m, x), wake_weight=0.5),
    ),
    LossCase(
        "RWSDReG",
        lambda q, p: RWSDReG(q, p, n_samples=3),
        needs_rsample=True,
        bound=iwae_bound,
        reference=lambda m, x: rws_dreg_reference(*_stopped(m, x)),
    ),
    LossCase(
        "STL",
        lambda q, p: STL(q, p, n_samples=2),
        needs_rsample=True,
        bound=elbo_bound,
        reference=lambda m, x: stl_reference(*_stl(m, x)),
    ),
    LossCase(
        "DReG",
        lambda q, p: DReG(q, p, n_samples=3),
        needs_rsample=True,
        bound=iwae_bound,
        reference=lambda m, x: dreg_reference(*_stopped(m, x)),
    ),
]


def _stl(m: Loss, x: Tensor) -> tuple[Tensor, Tensor]:
    z, log_p, _ = m.draw(x, x, reparam=True)
    return log_p, m.inf_net.log_prob_detached(z)


# -- Rényi (VR), thermodynamic (TVO) objectives and per-layer NVIL (issue 13) ----------------------
import torch.nn.functional as F  # noqa: E402

from vaekit import NVIL, TVO, VR, VRScore  # noqa: E402
from vaekit.testing import nvil_reference, tvo_reference, vr_reference  # noqa: E402


def vr_bound(alpha: float) -> Callable[[Tensor, Tensor], Tensor]:
    """(1/(1-alpha)) log (1/K) sum_k w_k^(1-alpha), ``[B]`` (alpha != 1)."""
    t = 1.0 - alpha
    return lambda log_p, log_q: logmeanexp(t * (log_p - log_q), dim=-1) / t


def tvo_bound(partition: list[float]) -> Callable[[Tensor, Tensor], Tensor]:
    """sum_n (b_{n+1} - b_n) sum_k softmax(b_n log w)_k log w_k, ``[B]``."""

    def bound(log_p: Tensor, log_q: Tensor) -> Tensor:
        log_w = log_p - log_q
        return sum(
            (hi - lo) * (log_w.mul(lo).softmax(dim=-1) * log_w).sum(dim=-1)
            for lo, hi in zip(partition[:-1], partition[1:])
        )

    return bound


_TVO_GRID = [0.0, 0.1, 0.4, 1.0]


def _layer_nets(q: InfNet) -> list[nn.Module]:
    """One linear C_i(h^{i-1}) per layer of q (x for the first), typed like q."""
    first = _baseline_net(q)
    sizes = getattr(q, "layer_sizes", None)
    if sizes is None:
        return [first]
    return [first] + [nn.Linear(h, 1).to(first.weight.dtype) for h in sizes[:-1]]


def _nvil_replayed(m: Loss, x: Tensor) -> Tensor:
    """NVIL's per-layer signals and baselines written out: running mean C_i, learned C_i(h^{i-1})
    fitted by least squares to l_i - C_i, scale max(1, sqrt(v_i)); then the loop reference."""
    z, log_p, log_q = m.draw(x, x, reparam=False)
    if getattr(m, "layered", False):
        lq, lp = m.inf_net.log_prob_layers(z), m.gen_model.log_prob_layers(x, z)  # [B, K, L], [B, K, L + 1]
        inputs = [x] + list(m.inf_net.split(z))[:-1]
    else:
        lq, lp, inputs = log_q.unsqueeze(-1), F.pad(log_p.unsqueeze(-1), (0, 1)), [x]
    n_layers = lq.shape[-1]
    raw = torch.stack(
        [(lp[..., i:].sum(-1) - lq[..., i:].sum(-1)).detach() for i in range(n_layers)], dim=-1
    )  # [B, K, L]
    running = m.mean.to(raw.dtype)  # [L], 0 before the first update
    learned = torch.cat(
        [
            net(h).reshape(x.shape[0], 1, 1).expand(*raw.shape[:2], 1) if i == 0 else net(h)
            for i, (net, h) in enumerate(zip(m.baseline_nets, inputs))
        ],
        dim=-1,
    )  # [B, K, L]
    fit = ((raw - running - learned) ** 2).mean(dim=(0, 1)).sum()
    scale = m.variance.to(raw.dtype).sqrt().clamp_min(1.0)  # [L]
    out = nvil_reference(lp, lq, (running + learned).detach(), scale)  # [B]
    return with_grad(out, out - fit)  # the fit penalty enters the gradient only


LOSS_CASES += [
    LossCase(
        "VR-0.5",
        lambda q, p: VR(q, p, alpha=0.5, n_samples=3),
        needs_rsample=True,
        bound=vr_bound(0.5),
        reference=lambda m, x: vr_reference(*_wake(m, x, True), alpha=0.5, score_function=False),
    ),
    LossCase(
        "VR-neg",
        lambda q, p: VR(q, p, alpha=-1.0, n_samples=3),
        needs_rsample=True,
        bound=vr_bound(-1.0),
        reference=lambda m, x: vr_reference(*_wake(m, x, True), alpha=-1.0, score_function=False),
    ),
    LossCase(
        "VRScore-0.5",
        lambda q, p: VRScore(q, p, alpha=0.5, n_samples=3),
        bound=vr_bound(0.5),
        reference=lambda m, x: vr_reference(*_wake(m, x, False), alpha=0.5, score_function=True),
    ),
    LossCase(
        "VRScore-1",
        lambda q, p: VRScore(q, p, alpha=1.0, n_samples=3),
        bound=elbo_bound,
        reference=lambda m, x: vr_reference(*_wake(m, x, False), alpha=1.0, score_function=True),
    ),
    LossCase(
        "TVO",
        lambda q, p: TVO(q, p, n_samples=3, partition=torch.tensor(_TVO_GRID, dtype=torch.float64)),
        bound=tvo_bound(_TVO_GRID),
        reference=lambda m, x: tvo_reference(*_wake(m, x, False), _TVO_GRID),
    ),
    LossCase(
        "NVIL-layers",
        lambda q, p: NVIL(q, p, n_samples=2, baseline_nets=_layer_nets(q)),
        bound=elbo_bound,
        stateful=True,
        reference=_nvil_replayed,
    ),
]
