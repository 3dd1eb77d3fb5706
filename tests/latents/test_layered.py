"""Multi-layer models: exact log p(x) on a tiny three-layer SBN (against an independent sequential sum
with torch.distributions), normalisation, the fast log-densities against torch.distributions,
ancestral and inference sampling frequencies, the draw cache, log_prob_detached, score-function
estimators unbiased on a three-layer SBN, the Bernoulli terms exact for extreme logits, the chunked
IWAE evaluator unbiased for p(x) on a three-layer SBN, and errors.

Statistical asserts state their failure rate; seeds are fixed.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch.distributions import Bernoulli, Normal

from vaekit import (
    IWAE,
    RWS,
    TVO,
    VIMCO,
    DReG,
    InputDependentBaseline,
    LayeredBernoulliEncoder,
    LayeredGaussianDecoder,
    LayeredGaussianEncoder,
    LayeredSigmoidBeliefNet,
    LeaveOneOut,
    MovingAverage,
    Reinforce,
    VRScore,
    check_layers,
    iwae_bound,
    split_layers,
)
from vaekit.testing import (
    assert_gradient_unbiased,
    assert_unbiased,
    enumerate_binary,
    exact_elbo,
    exact_gradients,
    exact_iwae,
    exact_log_marginal,
    exact_tvo_estimator_mean,
    exact_vr,
    gradient_samples,
    tiny_layered_sbn,
)

FAILURE_RATE = 1e-4
N_DRAWS, REPLICAS = 300, 50
SIZES = (1, 1, 1)  # three stochastic layers of one unit: 8 latent states
SHAPE = (3,)


def _sequential_log_marginal(p: LayeredSigmoidBeliefNet, x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log sum_{z3} p(z3) sum_{z2} p(z2|z3) sum_{z1} p(z1|z2) p(x|z1), by nested sums over
    each layer's states with torch.distributions (independent of the model's own log_prob)."""
    h1, h2, h3 = p.layer_sizes
    s1, s2, s3 = (enumerate_binary(h, dtype=x.dtype) for h in (h1, h2, h3))
    lik = Bernoulli(logits=p.data_net(s1)).log_prob(x[:, None, :]).sum(-1)  # [B, S1]
    t12 = Bernoulli(logits=p.latent_nets[0](s2)).log_prob(s1[:, None, :]).sum(-1)  # [S1, S2]: log p(z1|z2)
    t23 = Bernoulli(logits=p.latent_nets[1](s3)).log_prob(s2[:, None, :]).sum(-1)  # [S2, S3]
    top = Bernoulli(logits=p.prior_logits).log_prob(s3).sum(-1)  # [S3]
    m1 = torch.logsumexp(lik[:, :, None] + t12[None], dim=1)  # [B, S2]
    m2 = torch.logsumexp(m1[:, :, None] + t23[None], dim=1)  # [B, S3]
    return torch.logsumexp(m2 + top, dim=-1)  # [B]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("sizes", [(1, 1, 1), (2, 1, 2)])
def test_exact_log_marginal_of_a_three_layer_sbn_by_enumeration(seed, sizes):
    q, p, x = tiny_layered_sbn(3, sizes, batch=4, seed=seed)
    shape = (sum(sizes),)
    got = exact_log_marginal(p, x, latent_shape=shape)
    torch.testing.assert_close(got, _sequential_log_marginal(p, x), rtol=0, atol=1e-12)
    all_x = enumerate_binary(3)  # [8, 3]
    total = torch.logsumexp(exact_log_marginal(p, all_x, latent_shape=shape), dim=0)
    assert abs(total.item()) < 1e-12  # sum_x p(x) = 1
    z = enumerate_binary(sum(sizes)).expand(x.shape[0], -1, -1)  # [B, M, H]
    assert torch.logsumexp(q(x).log_prob(z), dim=-1).abs().max() < 1e-12  # sum_z q(z|x) = 1
    assert (exact_elbo(q, p, x, latent_shape=shape) <= got).all()


def test_fast_log_densities_match_torch_distributions_on_random_inputs():
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((4, 6), 0.5))
    q, p = LayeredBernoulliEncoder(6, (3, 2), hidden=5), LayeredSigmoidBeliefNet((3, 2), 6, hidden=5)
    z = torch.bernoulli(torch.full((4, 7, 5), 0.5))
    z1, z2 = q.split(z)
    ref_q = Bernoulli(logits=q.nets[0](x)[:, None]).log_prob(z1).sum(-1) + Bernoulli(logits=q.nets[1](z1)).log_prob(
        z2
    ).sum(-1)
    torch.testing.assert_close(q(x).log_prob(z), ref_q)
    ref_p = (
        Bernoulli(logits=p.prior_logits).log_prob(z2).sum(-1)
        + Bernoulli(logits=p.latent_nets[0](z2)).log_prob(z1).sum(-1)
        + Bernoulli(logits=p.data_net(z1)).log_prob(x[:, None]).sum(-1)
    )
    torch.testing.assert_close(p(x, z).log_prob(x, z), ref_p)
    torch.testing.assert_close(p.log_prior(z), ref_p - Bernoulli(logits=p.data_net(z1)).log_prob(x[:, None]).sum(-1))

    qg, pg = LayeredGaussianEncoder(6, (3, 2), hidden=5), LayeredGaussianDecoder((3, 2), 6, hidden=5)
    z = torch.randn(4, 7, 5)
    z1, z2 = qg.split(z)
    m1, s1 = qg.nets[0](x).chunk(2, -1)
    m2, s2 = qg.nets[1](z1).chunk(2, -1)
    ref_q = Normal(m1[:, None], s1[:, None].exp()).log_prob(z1).sum(-1) + Normal(m2, s2.exp()).log_prob(z2).sum(-1)
    torch.testing.assert_close(qg(x).log_prob(z), ref_q)
    pm, ps = pg.latent_nets[0](z2).chunk(2, -1)
    ref_p = (
        Normal(0.0, 1.0).log_prob(z2).sum(-1)
        + Normal(pm, ps.exp()).log_prob(z1).sum(-1)
        + Bernoulli(logits=pg.data_net(z1)).log_prob(x[:, None]).sum(-1)
    )
    torch.testing.assert_close(pg(x, z).log_prob(x, z), ref_p)


def test_ancestral_samples_follow_the_exact_marginal():
    """Empirical frequencies of the 8 data vectors vs exp(log p(x)): z-test per cell, Bonferroni, failure rate 1e-4."""
    _, p, _ = tiny_layered_sbn(3, SIZES, seed=3)
    torch.manual_seed(0)
    n = 40000
    x, z = p.sample(n)
    assert x.shape == (n, 3) and z.shape == (n, 3) and not x.requires_grad
    codes = (x * torch.tensor([4.0, 2.0, 1.0], dtype=x.dtype)).sum(-1).long()
    ind = torch.nn.functional.one_hot(codes, 8).to(torch.float64)  # [n, 8]
    exact = exact_log_marginal(p, enumerate_binary(3), latent_shape=SHAPE).exp().detach()
    assert_unbiased(ind, exact, failure_rate=FAILURE_RATE, name="ancestral sampling")


def test_inference_samples_follow_q():
    q, _, x = tiny_layered_sbn(2, SIZES, batch=2, seed=4)
    torch.manual_seed(0)
    z = q(x).sample(20000)  # [B, K, 3]
    codes = (z * torch.tensor([4.0, 2.0, 1.0], dtype=z.dtype)).sum(-1).long()  # [B, K]
    freq = torch.nn.functional.one_hot(codes, 8).to(torch.float64).permute(1, 0, 2).reshape(20000, -1)  # [K, B*8]
    states = enumerate_binary(3).expand(2, -1, -1)
    exact = q(x).log_prob(states).exp().detach().reshape(-1)  # [B*8]
    assert_unbiased(freq, exact, failure_rate=FAILURE_RATE, name="q sampling")


@pytest.mark.parametrize(
    "make",
    [
        lambda: (LayeredBernoulliEncoder(6, (3, 2)), "sample"),
        lambda: (LayeredGaussianEncoder(6, (3, 2), hidden=4), "rsample"),
        lambda: (LayeredGaussianEncoder(6, (3, 2), hidden=4), "sample"),
    ],
)
def test_the_draw_cache_gives_the_recomputed_value_and_gradient(make):
    q, method = make()
    x = torch.bernoulli(torch.full((3, 6), 0.5))
    torch.manual_seed(1)
    z = getattr(q(x), method)(4)
    assert z.requires_grad == (method == "rsample")
    params = list(q.parameters())
    for zz in (z, z.detach()):  # the loss detaches a black-box draw: an alias of the cached tensor
        cached = q.log_prob(zz)
        fresh = q.log_prob(zz.clone())  # a new tensor: recomputed
        torch.testing.assert_close(cached, fresh)
        g_cached = torch.autograd.grad(cached.sum(), params, retain_graph=True)  # the cache serves both passes
        for a, b in zip(g_cached, torch.autograd.grad(fresh.sum(), params, retain_graph=True)):
            torch.testing.assert_close(a, b)
    with torch.no_grad():
        z = q(x).sample(4)  # cached without a graph ...
    lp = q.log_prob(z.detach())  # ... so a log_prob with gradients recomputes
    assert lp.requires_grad
    z2 = q(x).sample(4)
    z2.add_(0.0)  # an in-place change bumps the version: recomputed
    torch.testing.assert_close(q.log_prob(z2), q.log_prob(z2.clone()))


@pytest.mark.parametrize("q", [LayeredBernoulliEncoder(6, (3, 2)), LayeredGaussianEncoder(6, (3, 2), hidden=4)])
def test_log_prob_detached_has_the_value_and_only_the_path_gradient(q):
    x = torch.bernoulli(torch.full((3, 6), 0.5))
    z = q(x).rsample(4) if q.has_rsample else q(x).sample(4)
    zz = z.detach().requires_grad_()
    a, b = q.log_prob(zz), q.log_prob_detached(zz)
    torch.testing.assert_close(a, b)
    assert all(g is None for g in torch.autograd.grad(b.sum(), list(q.parameters()), allow_unused=True))
    torch.testing.assert_close(torch.autograd.grad(a.sum(), zz)[0], torch.autograd.grad(b.sum(), zz)[0])


def test_split_and_pathwise_losses_on_the_layered_gaussian_vae():
    q, p = LayeredGaussianEncoder(6, (3, 2), hidden=4), LayeredGaussianDecoder((3, 2), 6, hidden=4)
    x = torch.bernoulli(torch.full((5, 6), 0.5))
    z = q(x).rsample(3)
    assert [t.shape for t in p.split(z)] == [torch.Size([5, 3, 3]), torch.Size([5, 3, 2])]
    for loss_fn in (IWAE(q, p, n_samples=3), DReG(q, p, n_samples=3)):
        loss_fn(x).backward()
        assert all(torch.isfinite(w.grad).all() for w in q.parameters())


# -- score-function estimators on a three-layer SBN, against exact enumeration ----------------------
def _objective_cases():
    k = 2
    return [
        ("VIMCO", lambda q, p: VIMCO(q, p, n_samples=k), lambda q, p, x: exact_iwae(q, p, x, k, latent_shape=SHAPE)),
        (
            "IWAE-score",
            lambda q, p: IWAE(q, p, n_samples=k),
            lambda q, p, x: exact_iwae(q, p, x, k, latent_shape=SHAPE),
        ),
        (
            "Reinforce+LOO",
            lambda q, p: Reinforce(q, p, n_samples=k, baselines=[LeaveOneOut()]),
            lambda q, p, x: exact_elbo(q, p, x, latent_shape=SHAPE),
        ),
        ("VRScore-0.5", lambda q, p: VRScore(q, p, alpha=0.5, n_samples=k), lambda q, p, x: exact_vr(q, p, x, k, 0.5)),
        (
            "TVO",
            lambda q, p: TVO(q, p, n_samples=k, partition=torch.tensor([0.0, 0.2, 1.0], dtype=torch.float64)),
            lambda q, p, x: exact_tvo_estimator_mean(q, p, x, k, [0.0, 0.2, 1.0]),
        ),
    ]


@pytest.mark.parametrize("name,make,objective", _objective_cases(), ids=[c[0] for c in _objective_cases()])
def test_score_function_estimators_are_unbiased_on_a_three_layer_sbn(name, make, objective):
    q, p, x = tiny_layered_sbn(2, SIZES, batch=2, seed=7)
    assert_gradient_unbiased(
        make(q, p),
        x,
        lambda: objective(q, p, x),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
        name=f"{name} on a 3-layer SBN",
    )


def test_nvil_shift_baselines_are_unbiased_on_a_three_layer_sbn():
    """NVIL's moving average and input-dependent baseline (one learning signal for all layers): unbiased
    for grad ELBO. (Its variance normalisation rescales the gradient by design; see the baselines docs.)"""
    q, p, x = tiny_layered_sbn(2, SIZES, batch=2, seed=8)
    net = torch.nn.Linear(2, 1).to(torch.float64)
    loss_fn = Reinforce(q, p, n_samples=1, baselines=[MovingAverage(), InputDependentBaseline(net)])
    loss_fn(x)  # give the running average a non-zero state first
    params = list(q.parameters()) + list(p.parameters())
    exact = exact_gradients(lambda: -exact_elbo(q, p, x, latent_shape=SHAPE).mean(), params)
    samples = gradient_samples(loss_fn, x, params, N_DRAWS, replicas=REPLICAS)
    assert_unbiased(samples, exact, failure_rate=FAILURE_RATE, name="NVIL shifts on a 3-layer SBN")


def test_rws_theta_gradient_is_unbiased_for_iwae_on_a_three_layer_sbn():
    q, p, x = tiny_layered_sbn(2, SIZES, batch=2, seed=9)
    assert_gradient_unbiased(
        RWS(q, p, n_samples=2),
        x,
        lambda: exact_iwae(q, p, x, 2, latent_shape=SHAPE),
        params=list(p.parameters()),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
        name="RWS wake-theta on a 3-layer SBN",
    )


# -- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [(), (3, 0), (2, -1), (2.0, 3), (True, 2)])
def test_bad_layer_sizes_raise_value_error(bad):
    for build in (
        lambda: LayeredBernoulliEncoder(6, bad),
        lambda: LayeredSigmoidBeliefNet(bad, 6),
        lambda: LayeredGaussianEncoder(6, bad),
        lambda: LayeredGaussianDecoder(bad, 6),
    ):
        with pytest.raises(ValueError, match="layer_sizes"):
            build()


def test_layer_sizes_of_the_wrong_type_raise_type_error():
    with pytest.raises(TypeError, match="layer_sizes"):
        LayeredBernoulliEncoder(6, "200")
    with pytest.raises(TypeError, match="layer_sizes"):
        LayeredSigmoidBeliefNet(200, 6)


def test_layers_that_do_not_chain_raise_value_error():
    check_layers(LayeredBernoulliEncoder(6, (3, 2)), LayeredSigmoidBeliefNet((3, 2), 6))
    with pytest.raises(ValueError, match="do not chain"):
        check_layers(LayeredBernoulliEncoder(6, (3, 2)), LayeredSigmoidBeliefNet((2, 3), 6))
    with pytest.raises(ValueError, match="width"):
        check_layers(LayeredBernoulliEncoder(6, (3, 2)), LayeredSigmoidBeliefNet((3, 2), 5))
    with pytest.raises(ValueError, match="not a layered model"):
        from vaekit import SigmoidBeliefNet

        check_layers(LayeredBernoulliEncoder(6, (3, 2)), SigmoidBeliefNet(5, 6))
    q, p = LayeredBernoulliEncoder(6, (3, 2)), LayeredSigmoidBeliefNet((3, 3), 6)
    x = torch.bernoulli(torch.full((2, 6), 0.5))
    with pytest.raises(ValueError, match=r"z must be \[B, K, 6\]"):
        VIMCO(q, p, n_samples=2)(x)  # q draws 5 units, p expects 6: named at the first call
    with pytest.raises(ValueError, match=r"z must be \[B, K, 5\]"):
        q(x).log_prob(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"x must be \[B, 6\]"):
        q(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="expected sum"):
        split_layers(torch.zeros(2, 4), (3, 2))


@pytest.mark.parametrize("gen_cls", [LayeredSigmoidBeliefNet, LayeredGaussianDecoder])
def test_layered_generative_models_declare_x_shape_and_reject_non_binary_data(gen_cls):
    sizes = (3, 2)
    gaussian = gen_cls is LayeredGaussianDecoder
    q = LayeredGaussianEncoder(5, sizes) if gaussian else LayeredBernoulliEncoder(5, sizes)
    p = gen_cls(sizes, 5)
    assert p.x_shape_ == (5,)
    loss_fn = IWAE(q, p, n_samples=2) if gaussian else VIMCO(q, p, n_samples=2)
    x = torch.bernoulli(torch.full((4, 5), 0.5))
    with pytest.raises(ValueError, match=r"0/1"):
        loss_fn(x.clone().fill_(0.5))
    with pytest.raises(ValueError, match=r"\[B, 5\]"):  # a target of another width than the likelihood's
        loss_fn(x, target=torch.bernoulli(torch.full((4, 6), 0.5)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bernoulli_log_densities_stay_exact_for_extreme_logits(dtype):
    # The layered SBN scores Bernoulli terms as value * logit - softplus(logit) (data term by a batched
    # matrix-vector product): against float64 torch.distributions with logits of magnitude up to ~1e3,
    # value and gradient, for latents with two sample dims [B, S1, S2, H].
    torch.manual_seed(0)
    q64, p64 = LayeredBernoulliEncoder(6, (3, 2)).double(), LayeredSigmoidBeliefNet((3, 2), 6).double()
    with torch.no_grad():
        for w in [*q64.parameters(), *p64.parameters()]:
            w.mul_(300.0)
    q, p = copy.deepcopy(q64).to(dtype), copy.deepcopy(p64).to(dtype)
    x = torch.bernoulli(torch.full((4, 6), 0.5, dtype=torch.float64))
    z = torch.bernoulli(torch.full((4, 2, 3, 5), 0.5, dtype=torch.float64))
    z1, z2 = q64.split(z)
    ref_q = Bernoulli(logits=q64.nets[0](x)[:, None, None]).log_prob(z1).sum(-1) + Bernoulli(
        logits=q64.nets[1](z1)
    ).log_prob(z2).sum(-1)
    ref_p = (
        Bernoulli(logits=p64.prior_logits).log_prob(z2).sum(-1)
        + Bernoulli(logits=p64.latent_nets[0](z2)).log_prob(z1).sum(-1)
        + Bernoulli(logits=p64.data_net(z1)).log_prob(x[:, None, None]).sum(-1)
    )  # [B, S1, S2]
    assert ref_p.abs().max() > 100  # the logits are extreme: these are far from the bulk of a sigmoid
    xd, zd = x.to(dtype), z.to(dtype)
    tol = {"rtol": 1e-5, "atol": 1e-2} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-9}
    got_q, got_p = q(xd).log_prob(zd), p(xd, zd).log_prob(xd, zd)
    torch.testing.assert_close(got_q.double(), ref_q.detach(), **tol)
    torch.testing.assert_close(got_p.double(), ref_p.detach(), **tol)
    torch.testing.assert_close(p.log_prob_layers(xd, zd).sum(-1), got_p, **tol)
    torch.testing.assert_close(q.log_prob_layers(zd).sum(-1), got_q, **tol)
    if dtype == torch.float64:
        params = list(q.parameters()) + list(p.parameters())
        ref_params = list(q64.parameters()) + list(p64.parameters())
        got = torch.autograd.grad((got_q + got_p).sum(), params)
        want = torch.autograd.grad((ref_q + ref_p).sum(), ref_params)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-9)


def test_chunked_iwae_bound_on_a_three_layer_sbn_is_unbiased_for_p_x():
    # exp(IWAE_K) is an unbiased estimator of p(x) for any K, however the K samples are chunked: the
    # evaluator of the papers' benchmark, with K = 7 in chunks of 3, against p(x) by enumeration.
    # z-test, failure rate FAILURE_RATE (Bonferroni over the data points) for a correct evaluator.
    q, p, x = tiny_layered_sbn(3, (2, 1, 2), batch=2, seed=4)
    reps = 20000
    torch.manual_seed(0)
    bounds = iwae_bound(q, p, x.repeat(reps, 1), n_samples=7, batch_size=500, chunk_samples=3)  # [reps * B]
    samples = bounds.exp().reshape(reps, x.shape[0])  # [reps, B]: unbiased for p(x)
    assert_unbiased(
        samples, exact_log_marginal(p, x, latent_shape=(5,)).exp(), failure_rate=FAILURE_RATE, name="exp(IWAE_7)"
    )
