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

import dataclasses
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


# -- discrete-latent estimators (issue 12) --------------------------------------------------------
# Each draws its own noise from q's logits (vaekit.latents.noise, on torch's global generator);
# the references replay it with the same calls in the same order, score the latents through the
# module's models and hand the result to the float64 loop reference of vaekit.testing.references.
from vaekit import (  # noqa: E402
    ARM,
    ARMS,
    REBAR,
    RELAX,
    CategoricalDisARM,  # noqa: E402
    CategoricalDisARMIW,
    DisARM,
    Enumerate,
    GumbelRao,
    GumbelSoftmax,
    IndeCateR,
    LocalDisARM,
)
from vaekit.latents import is_one_hot, uniform_noise  # noqa: E402
from vaekit.latents.noise import logistic_noise  # noqa: E402
from vaekit.losses import all_configurations, dirichlet_copula_uniforms  # noqa: E402
from vaekit.testing import (  # noqa: E402
    arm_reference,
    arms_reference,
    categorical_disarm_reference,
    disarm_reference,
    enumerate_reference,
    indecater_reference,
    local_disarm_reference,
    rebar_reference,
)


def enumerated_elbo(log_p: Tensor, log_q: Tensor) -> Tensor:
    """sum_z q(z) (log p - log q) over all configurations, ``[B]``."""
    return (log_q.exp() * (log_p - log_q)).sum(dim=-1)


def paired_iwae(log_p: Tensor, log_q: Tensor) -> Tensor:
    """(IWAE_n(first half) + IWAE_n(second half)) / 2, ``[B]`` (local DisARM's antithetic halves)."""
    n = log_p.shape[-1] // 2
    log_w = log_p - log_q
    return 0.5 * (logmeanexp(log_w[:, :n], dim=-1) + logmeanexp(log_w[:, n:], dim=-1))


def _relax_control(q: InfNet) -> nn.Module:
    """r_psi for RELAX on the latent width of q (its last Linear layer's output), typed like q."""
    last = [m for m in q.modules() if isinstance(m, nn.Linear)][-1]
    return nn.Sequential(nn.Linear(last.out_features, 4), nn.Tanh(), nn.Linear(4, 1)).to(last.weight.dtype)


def _scored(m: Loss, x: Tensor, z: Tensor, *, detach_q: bool) -> Tensor:
    """f = log p(x, z) - log q(z|x), ``[B, K]``, under the last ``m.inf_net(x)``."""
    log_q = m.inf_net.log_prob_detached(z) if detach_q else m.inf_net.log_prob(z)
    return m.gen_model(x, z).log_prob(x, z) - log_q


def _antithetic(m: Loss, x: Tensor, reference) -> Tensor:
    """ARM / DisARM: u ~ U(0, 1), the pair b = 1[u < sigma(a)], b~ = 1[u > sigma(-a)]."""
    logits = m.inf_net(x).params_["logits"]
    u = uniform_noise(logits.shape, dtype=logits.dtype, device=logits.device)
    a = logits.detach()
    z = torch.stack([u < torch.sigmoid(a), u > torch.sigmoid(-a)], dim=1).to(a.dtype)
    f = _scored(m, x, z, detach_q=True)
    return reference(logits, u, f[:, 0], f[:, 1])


def _local_disarm(m: Loss, x: Tensor) -> Tensor:
    logits = m.inf_net(x).params_["logits"]
    n, a = m.n_pairs, logits.detach().unsqueeze(1)
    u = uniform_noise((logits.shape[0], n, *logits.shape[1:]), dtype=a.dtype, device=a.device)
    z = torch.cat([u < torch.sigmoid(a), u > torch.sigmoid(-a)], dim=1).to(a.dtype)
    log_w = _scored(m, x, z, detach_q=False)  # IWAE's log-weights keep q's pathwise-free score term
    return local_disarm_reference(logits, u, log_w[:, :n], log_w[:, n:])


def _arms(m: Loss, x: Tensor) -> Tensor:
    logits = m.inf_net(x).params_["logits"]
    u = dirichlet_copula_uniforms(tuple(logits.shape), m.n_samples, dtype=logits.dtype, device=logits.device)
    z = (u < torch.sigmoid(logits.detach()).unsqueeze(1)).to(logits.dtype)
    return arms_reference(logits, z, _scored(m, x, z, detach_q=True))


def _categorical_disarm(m: Loss, x: Tensor) -> Tensor:
    inf = m.inf_net(x)
    assert not is_one_hot(inf)  # make_models builds Bernoulli latents (the one-hot case: test_discrete_references)
    logits = inf.params_["logits"]
    return _antithetic_with(m, x, logits, lambda a, u, f, fa: categorical_disarm_reference(a, u, f, fa, one_hot=False))


def _antithetic_with(m: Loss, x: Tensor, logits: Tensor, reference) -> Tensor:
    u = uniform_noise(logits.shape, dtype=logits.dtype, device=logits.device)
    a = logits.detach()
    z = torch.stack([u < torch.sigmoid(a), u > torch.sigmoid(-a)], dim=1).to(a.dtype)
    f = _scored(m, x, z, detach_q=True)
    return reference(logits, u, f[:, 0], f[:, 1])


def _enumerate(m: Loss, x: Tensor) -> Tensor:
    logits = m.inf_net(x).params_["logits"]
    z = all_configurations(tuple(logits.shape[1:]), False, dtype=logits.dtype, device=logits.device)
    z = z.unsqueeze(0).expand(x.shape[0], *z.shape)  # [B, 2^H, H]
    return enumerate_reference(m.gen_model(x, z).log_prob(x, z), m.inf_net.log_prob(z))


def _gumbel_softmax(m: Loss, x: Tensor) -> Tensor:
    """Binary latents: z = sigma((a + L) / tau) (or its straight-through hard value), pathwise ELBO."""
    tau = m.current_temperature()
    logits = m.inf_net(x).params_["logits"].unsqueeze(1)  # [B, 1, H]
    noise = logistic_noise((logits.shape[0], m.n_samples, *logits.shape[2:]), dtype=logits.dtype)
    soft = torch.sigmoid((logits + noise) / tau)
    z = (soft > 0.5).to(soft.dtype) + soft - soft.detach() if m.straight_through else soft
    return elbo_reference(m.gen_model(x, z).log_prob(x, z), m.inf_net.log_prob(z), score_function=False)


def _gumbel_rao(m: Loss, x: Tensor) -> Tensor:
    """Binary latents: hard b = 1[a + L > 0]; R conditional draws z~_r | b; the latent is
    b + mean_r sigma(z~_r / tau) - (its detached value) (the straight-through Rao-Blackwellised form)."""
    logits = m.inf_net(x).params_["logits"].unsqueeze(1)  # [B, 1, H]
    a = logits.detach()
    shape = (logits.shape[0], m.n_samples, *logits.shape[2:])
    hard = (a + logistic_noise(shape, dtype=a.dtype) > 0).to(a.dtype)  # [B, K, H]
    v = uniform_noise((shape[0], shape[1], m.n_conditional, *shape[2:]), dtype=a.dtype)  # conditional_logistic's
    p = torch.sigmoid(a).unsqueeze(2)  # [B, 1, 1, H]
    big_u = torch.where(hard.unsqueeze(2) > 0.5, 1 - p * v, (1 - p) * v)  # U | b, per the paper's appendix
    noise = torch.log(big_u) - torch.log1p(-big_u)  # [B, K, R, H]: logistic noise given b
    soft = torch.sigmoid((logits.unsqueeze(2) + noise) / m.temperature).mean(dim=2)  # [B, K, H]
    z = hard + soft - soft.detach()
    return elbo_reference(m.gen_model(x, z).log_prob(x, z), m.inf_net.log_prob(z), score_function=False)


def _indecater(m: Loss, x: Tensor) -> Tensor:
    """Binary latents: N samples, each coordinate d set to 0 and 1 in turn, scored one by one."""
    inf = m.inf_net(x)
    logits = inf.params_["logits"]  # [B, H]
    z = inf.sample(m.n_samples).detach()  # [B, N, H]
    bsz, n, h = z.shape
    f_base = _scored(m, x, z, detach_q=True)  # [B, N]
    configs = []
    for k in range(n):
        for d in range(h):
            for c in range(2):
                zc = z[:, k].clone()
                zc[:, d] = c
                configs.append(zc)
    f = _scored(m, x, torch.stack(configs, dim=1), detach_q=True).reshape(bsz, n, h, 2)
    p1 = torch.sigmoid(logits).unsqueeze(-1)
    return indecater_reference(torch.cat([1 - p1, p1], dim=-1), f, f_base)


def _rebar(m: Loss, x: Tensor) -> Tensor:
    """REBAR (control eta * f at the relaxed latents) and RELAX (plus the network r_psi)."""
    logits = m.inf_net(x).params_["logits"]  # [B, H]
    u = uniform_noise(logits.shape, dtype=logits.dtype, device=logits.device)
    a = logits.detach()
    b = (a + torch.log(u) - torch.log1p(-u) > 0).to(a.dtype)
    f = _scored(m, x, b.unsqueeze(1), detach_q=True).sum(dim=1)  # [B]
    v = uniform_noise(logits.shape, dtype=logits.dtype, device=logits.device)  # the conditional draw's noise

    def control(relaxed: Tensor, _: Tensor) -> Tensor:
        c = m.eta * _scored(m, x, relaxed, detach_q=True)  # [B, 2]
        if isinstance(m, RELAX):
            c = c + m.control(relaxed.flatten(2)).squeeze(-1)
        return c

    return rebar_reference(logits, b, f, control, v, u, m.parameters_of_control(), m.log_temperature.exp())


LOSS_CASES += [
    LossCase("Enumerate", lambda q, p: Enumerate(q, p), bound=enumerated_elbo, reference=_enumerate),
    LossCase("ARM", lambda q, p: ARM(q, p), bound=elbo_bound, reference=lambda m, x: _antithetic(m, x, arm_reference)),
    LossCase(
        "DisARM",
        lambda q, p: DisARM(q, p),
        bound=elbo_bound,
        reference=lambda m, x: _antithetic(m, x, disarm_reference),
    ),
    LossCase("LocalDisARM", lambda q, p: LocalDisARM(q, p, n_pairs=2), bound=paired_iwae, reference=_local_disarm),
    LossCase("ARMS", lambda q, p: ARMS(q, p, n_samples=3), bound=elbo_bound, reference=_arms),
    LossCase(
        "GumbelSoftmax",
        lambda q, p: GumbelSoftmax(q, p, n_samples=2, temperature=0.5),
        bound=elbo_bound,
        reference=_gumbel_softmax,
    ),
    LossCase(
        "GumbelSoftmax-ST",
        lambda q, p: GumbelSoftmax(q, p, straight_through=True),
        bound=elbo_bound,
        reference=_gumbel_softmax,
    ),
    LossCase(
        "GumbelRao",
        lambda q, p: GumbelRao(q, p, n_samples=2, n_conditional=3),
        bound=elbo_bound,
        reference=_gumbel_rao,
    ),
    LossCase("IndeCateR", lambda q, p: IndeCateR(q, p, n_samples=2), bound=elbo_bound, reference=_indecater),
    LossCase("REBAR", lambda q, p: REBAR(q, p), bound=elbo_bound, reference=_rebar),
    LossCase("RELAX", lambda q, p: RELAX(q, p, control=_relax_control(q)), bound=elbo_bound, reference=_rebar),
    LossCase(
        "CategoricalDisARM", lambda q, p: CategoricalDisARM(q, p), bound=elbo_bound, reference=_categorical_disarm
    ),
    LossCase(  # Bernoulli latents: DisARM-IW is DisARM (one-hot: tests/losses/test_coupled_categorical.py)
        "CategoricalDisARMIW",
        lambda q, p: CategoricalDisARMIW(q, p),
        bound=elbo_bound,
        reference=lambda m, x: _antithetic(m, x, disarm_reference),
    ),
]
# Every discrete-latent estimator reads q's logits (``params_["logits"]``), which the layered
# encoders do not expose: the multi-layer contract test skips them.
_READS_LOGITS = {
    "Enumerate",
    "ARM",
    "DisARM",
    "LocalDisARM",
    "ARMS",
    "GumbelSoftmax",
    "GumbelSoftmax-ST",
    "GumbelRao",
    "IndeCateR",
    "REBAR",
    "RELAX",
    "CategoricalDisARM",
    "CategoricalDisARMIW",
}
LOSS_CASES = [
    dataclasses.replace(c, needs_logits=True) if isinstance(c, LossCase) and c.name in _READS_LOGITS else c
    for c in LOSS_CASES
]

# Losses that draw their own noise from q's logits (or enumerate) and never call InfNet.sample/rsample:
# the sampler-shape error test does not apply to them.
DRAWS_OWN_NOISE = {
    "Enumerate",
    "ARM",
    "DisARM",
    "LocalDisARM",
    "ARMS",
    "GumbelSoftmax",
    "GumbelSoftmax-ST",
    "GumbelRao",
    "REBAR",
    "RELAX",
    "CategoricalDisARM",
    "CategoricalDisARMIW",
}
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
