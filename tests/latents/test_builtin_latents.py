"""The built-in latent models' lean paths, checked against torch.distributions on random inputs.

Every lean path (sampling, log_prob, log_prior, log_prob_detached, GenModel.sample) is compared
with the ``torch.distributions`` computation it replaces: values and gradients to float32
rounding, sample frequencies with binomial/normal standard errors at a stated failure rate.
``validate_args=True`` keeps the torch.distributions path with its checks.
"""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal

from vaekit import VIMCO, BernoulliDecoder, BernoulliEncoder, GaussianEncoder, SigmoidBeliefNet
from vaekit.latents.bernoulli import BinarySupportCheck, bernoulli_data_log_prob, bernoulli_log_prob, bernoulli_sample

PAIRS = {
    "sbn": lambda v, **kw: (
        BernoulliEncoder(6, 3, validate_args=v, **kw),
        SigmoidBeliefNet(3, 6, validate_args=v, **kw),
    ),
    "sbn_mlp": lambda v, **kw: (
        BernoulliEncoder(6, 3, 5, validate_args=v, **kw),
        SigmoidBeliefNet(3, 6, 5, validate_args=v, **kw),
    ),
    "gaussian": lambda v, **kw: (
        GaussianEncoder(6, 3, validate_args=v, **kw),
        BernoulliDecoder(3, 6, validate_args=v, **kw),
    ),
}


def _twins(name):
    """The lean pair and a validated (torch.distributions) pair with the same weights."""
    q, p = PAIRS[name](False)
    qv, pv = PAIRS[name](True)
    qv.load_state_dict(q.state_dict())
    pv.load_state_dict(p.state_dict())
    return q, p, qv, pv


def _grads(loss, params):
    return torch.autograd.grad(loss, params, allow_unused=True)


def _close_grads(ga, gb):
    for a, b in zip(ga, gb):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


# -- data outside the likelihood's support (issue 10.2) -------------------------------------------
@pytest.mark.parametrize("name", ["sbn", "gaussian"])
@pytest.mark.parametrize("bad", [255.0, 0.5, -1.0, float("nan")])
def test_non_binary_data_raise_a_clear_value_error_by_default(name, bad):
    q, p = PAIRS[name](False)
    x = torch.bernoulli(torch.full((4, 6), 0.5))
    x[1, 2] = bad  # one pixel is enough (on the first call)
    # NaN is a data problem that no likelihood can score: the message says so without naming a model
    expected = r"input x .*contains NaN" if bad != bad else r"must be 0/1 .*Binarize"
    with pytest.raises(ValueError, match=expected):
        VIMCO(q, p, n_samples=3)(x)


@pytest.mark.parametrize("name", ["sbn", "gaussian"])
def test_pixels_0_to_255_raise_instead_of_an_impossible_positive_bound(name):
    q, p = PAIRS[name](False)
    x = torch.randint(0, 256, (5, 6)).float()
    with pytest.raises(ValueError, match="outside"):
        VIMCO(q, p, n_samples=2)(x)


@pytest.mark.parametrize("name", ["sbn", "gaussian"])
def test_validate_args_keeps_the_full_torch_distributions_checks(name):
    q, p = PAIRS[name](True)
    x = torch.full((3, 6), 0.5)
    z = q(x).sample(2)
    with pytest.raises(ValueError, match="support"):
        p(x, z).log_prob(x, z)


def test_the_support_check_runs_on_the_first_call_and_then_every_nth():
    check = BinarySupportCheck("M", every=3)
    good, bad = torch.zeros(2, 2), torch.full((2, 2), 2.0)
    check(good)  # call 0: checked
    check(bad)  # calls 1 and 2: not due
    check(bad)
    with pytest.raises(ValueError, match="M: the data must be 0/1"):
        check(bad)  # call 3: checked
    every_call = BinarySupportCheck("M", every=1)
    for _ in range(3):
        every_call(good)
    with pytest.raises(ValueError):
        every_call(bad)
    with pytest.raises(ValueError, match="every"):
        BinarySupportCheck("M", every=0)


def test_binary_data_of_any_dtype_pass_the_check():
    check = BinarySupportCheck("M", every=1)
    for x in (
        torch.tensor([0.0, 1.0]),
        torch.tensor([0, 1]),
        torch.tensor([True, False]),
        torch.tensor([0.0, 1.0]).double(),
    ):
        check(x)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_the_float_support_check_agrees_with_the_direct_comparison(dtype):
    """The check sums |x (x - 1)|: it must flag exactly the data that (x != 0) & (x != 1) flags,
    at the edges too (tiny and subnormal values, values next to 1, -0.0, +-inf, NaN, huge values)."""
    info = torch.finfo(dtype)
    edges = [
        0.0,
        1.0,
        -0.0,
        info.tiny,
        info.smallest_normal / 4,
        info.eps,
        1 - info.eps / 2,
        1 + info.eps,
        -info.tiny,
        2.0,
        0.5,
        float("inf"),
        float("-inf"),
        float("nan"),
        info.max,
        -info.max,
    ]
    for v in edges:
        x = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]], dtype=dtype)
        x[1, 1] = v
        outside = bool(((x != 0) & (x != 1)).any())
        check = BinarySupportCheck("M", every=1)
        if outside:
            with pytest.raises(ValueError):
                check(x)
        else:
            check(x)


# -- log-densities against torch.distributions ----------------------------------------------------
@pytest.mark.parametrize("name", list(PAIRS))
def test_lean_log_probs_and_gradients_match_torch_distributions(name):
    q, p, qv, pv = _twins(name)
    x = torch.bernoulli(torch.full((5, 6), 0.4))
    z = q(x).sample(4)  # [B, K, H]
    assert z.shape == (5, 4, 3) and z.is_contiguous()
    lq, lp = q(x).log_prob(z), p(x, z).log_prob(x, z)
    rq, rp = qv(x).log_prob(z), pv(x, z).log_prob(x, z)
    torch.testing.assert_close(lq, rq, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lp, rp, rtol=1e-5, atol=1e-5)
    w = torch.randn_like(lq)  # a random linear functional of the [B, K] outputs
    _close_grads(_grads((lq * w).sum(), list(q.parameters())), _grads((rq * w).sum(), list(qv.parameters())))
    _close_grads(_grads((lp * w).sum(), list(p.parameters())), _grads((rp * w).sum(), list(pv.parameters())))
    torch.testing.assert_close(p.log_prior(z), pv.log_prior(z), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(PAIRS))
def test_lean_log_prob_detached_matches_and_has_no_path_to_the_encoder(name):
    q, _, qv, _ = _twins(name)
    x = torch.bernoulli(torch.full((4, 6), 0.5))
    z = q(x).sample(3).requires_grad_(True)
    a, b = q(x).log_prob_detached(z), qv(x).log_prob_detached(z)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert all(g is None for g in torch.autograd.grad(a.sum(), list(q.parameters()), allow_unused=True))
    (gz_a,) = torch.autograd.grad(a.sum(), z)
    (gz_b,) = torch.autograd.grad(b.sum(), z)
    torch.testing.assert_close(gz_a, gz_b, rtol=1e-5, atol=1e-5)
    assert q.log_prob(z).requires_grad  # params_ restored with their graph


def test_bernoulli_log_prob_equals_torch_for_real_values_and_its_gradients():
    logits = torch.randn(4, 1, 7, dtype=torch.float64, requires_grad=True)
    value = torch.randn(4, 5, 7, dtype=torch.float64, requires_grad=True)  # any real value, as without validation
    a = bernoulli_log_prob(logits, value)
    b = Independent(Bernoulli(logits=logits.expand_as(value), validate_args=False), 1).log_prob(value)
    torch.testing.assert_close(a, b)
    w = torch.randn_like(a)
    for ga, gb in zip(
        torch.autograd.grad((a * w).sum(), (logits, value)), torch.autograd.grad((b * w).sum(), (logits, value))
    ):
        torch.testing.assert_close(ga, gb)
    x = torch.bernoulli(torch.full((4, 7), 0.3, dtype=torch.float64))
    lik = torch.randn(4, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(
        bernoulli_data_log_prob(lik, x), Independent(Bernoulli(logits=lik), 1).log_prob(x.unsqueeze(1))
    )


def test_gaussian_encoder_log_prob_matches_normal_with_extreme_scales():
    q = GaussianEncoder(6, 3).double()
    x = torch.randn(4, 6, dtype=torch.float64) * 30  # scales from e^-tens to e^tens
    q(x)
    loc, scale = q.params_["loc"], q.params_["scale"]
    z = q.rsample(5)
    ref = Independent(Normal(loc.unsqueeze(1), scale.unsqueeze(1)), 1).log_prob(z)
    torch.testing.assert_close(q.log_prob(z), ref)


# -- sampling ---------------------------------------------------------------------------------------
def test_bernoulli_sample_frequencies_match_sigmoid_of_the_logits():
    # 64 probabilities from 0.001 to 0.999 and n = 40000 draws each. Each frequency is within
    # 5 binomial standard errors of its probability with probability 1 - 5.7e-7, so the test fails
    # by chance with probability < 4e-5.
    logits = torch.logit(torch.linspace(0.001, 0.999, 64)).reshape(2, 32)
    n = 40000
    z = bernoulli_sample(logits, (n,))  # [2, n, 32]
    assert z.shape == (2, n, 32) and z.is_contiguous() and z.dtype == logits.dtype
    assert bool(((z == 0) | (z == 1)).all())
    p = torch.sigmoid(logits).double()
    freq = z.double().mean(1)
    se = (p * (1 - p) / n).sqrt()
    assert ((freq - p).abs() <= 5 * se).all(), (freq - p).abs().div(se).max()
    hard = bernoulli_sample(torch.tensor([[-math.inf, math.inf]]), (100,))
    assert hard[0, :, 0].eq(0).all() and hard[0, :, 1].eq(1).all()


def test_sampling_draws_from_the_global_generator_or_an_explicit_one():
    logits = torch.randn(3, 4)
    torch.manual_seed(7)
    a = bernoulli_sample(logits, (5,))
    torch.manual_seed(7)
    b = bernoulli_sample(logits, (5,))
    assert torch.equal(a, b)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    state = torch.get_rng_state()
    q1 = BernoulliEncoder(4, 3, generator=g1)
    q2 = BernoulliEncoder(4, 3, generator=g2)
    q2.load_state_dict(q1.state_dict())
    x = torch.zeros(6, 4)
    state = torch.get_rng_state()
    assert torch.equal(q1(x).sample(8), q2(x).sample(8))
    assert torch.equal(torch.get_rng_state(), state)  # the global generator was not touched
    with pytest.raises(ValueError, match="lean path"):
        BernoulliEncoder(4, 3, validate_args=True, generator=g1)
    with pytest.raises(TypeError, match="generator"):
        SigmoidBeliefNet(3, 4, generator=1)


def test_sbn_sample_matches_the_generative_model():
    # z ~ Bernoulli(sigmoid(b)) per latent, then x ~ Bernoulli(sigmoid(g(z))). Checked: the z
    # frequencies against sigmoid(b) and the mean of x - sigmoid(g(z)) against 0, each within
    # 5 standard errors (failure rate < 1e-5 over the 3 + 6 coordinates).
    p = SigmoidBeliefNet(3, 6)
    with torch.no_grad():
        p.prior_logits.copy_(torch.tensor([-2.0, 0.0, 1.5]))
    n = 40000
    x, z = p.sample(n)
    assert x.shape == (n, 6) and z.shape == (n, 3) and not x.requires_grad
    pz = torch.sigmoid(p.prior_logits.detach()).double()
    assert ((z.double().mean(0) - pz).abs() <= 5 * (pz * (1 - pz) / n).sqrt()).all()
    with torch.no_grad():
        px = torch.sigmoid(p.net(z)).double()
    resid = x.double() - px  # mean 0, variance E[px (1 - px)]
    assert ((resid.mean(0)).abs() <= 5 * ((px * (1 - px)).mean(0) / n).sqrt()).all()


def test_gaussian_rsample_moments_and_pathwise_gradient():
    # Mean and variance of n = 40000 draws per coordinate within 5 standard errors of loc and
    # scale^2 (failure rate < 1e-5); the gradient of E[z] with respect to the encoder equals that of loc.
    q = GaussianEncoder(6, 3)
    x = torch.randn(2, 6)
    z = q(x).rsample(40000)
    assert z.shape == (2, 40000, 3) and z.is_contiguous() and z.requires_grad
    loc, scale = q.params_["loc"].detach(), q.params_["scale"].detach()
    n = z.shape[1]
    assert ((z.detach().mean(1) - loc).abs() <= 5 * scale / math.sqrt(n)).all()
    var = z.detach().var(1)
    assert ((var - scale**2).abs() <= 5 * scale**2 * math.sqrt(2 / (n - 1))).all()
    assert not q(x).sample(3).requires_grad


def test_decoders_with_a_latent_of_the_wrong_rank_or_data_of_the_wrong_width_raise():
    p = SigmoidBeliefNet(3, 6)
    x, z = torch.zeros(2, 6), torch.zeros(2, 4, 3)
    with pytest.raises(ValueError, match=r"expected x \[B, 6\]"):
        p(torch.zeros(2, 5), z).log_prob(torch.zeros(2, 5), z)
    assert p(x, z).log_prob(x, z).shape == (2, 4)


def test_encoder_exposes_its_logits_in_params():
    q = BernoulliEncoder(6, 3)
    q(torch.zeros(5, 6))
    assert set(q.params_) == {"logits"} and q.params_["logits"].shape == (5, 3)
    qv = BernoulliEncoder(6, 3, validate_args=True)
    qv(torch.zeros(5, 6))
    assert set(qv.params_) == {"logits"} and qv.params_["logits"].shape == (5, 3)


def test_models_follow_dtype():
    q, p = BernoulliEncoder(6, 3).double(), SigmoidBeliefNet(3, 6).double()
    x = torch.bernoulli(torch.full((2, 6), 0.5, dtype=torch.float64))
    z = q(x).sample(2)
    assert z.dtype == torch.float64 and p(x, z).log_prob(x, z).dtype == torch.float64
    xs, zs = p.sample(3)
    assert xs.dtype == zs.dtype == torch.float64
