"""VIB: closed-form KL vs Monte Carlo, beta-weighted ELBO, use under every pathwise/score loss."""

from __future__ import annotations

import importlib
import math

import pytest
import torch
from torch.distributions import Normal

from vaekit.latents.vib import VIBDecoder, VIBEncoder, vib_kl
from vaekit.losses import ELBO, IWAE, VIMCO
from vaekit.models import GenModel

# Each statistical assert is a z-test at |z| < 4.5 (two-sided failure rate 7e-6 per comparison).
Z = 4.5


def _models(seed=0, learn_prior=False, dtype=torch.float32):
    torch.manual_seed(seed)
    enc = VIBEncoder(torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh()), feature_dim=8, latent_dim=3)
    dec = VIBDecoder(torch.nn.Linear(3, 4), latent_dim=3, learn_prior=learn_prior)
    if learn_prior:  # move the prior away from N(0, I) so the test covers a general r(z)
        with torch.no_grad():
            dec.prior_loc.copy_(torch.tensor([0.5, -0.3, 0.2]))
            dec.prior_log_scale.copy_(torch.tensor([0.2, -0.4, 0.1]))
    x = torch.randn(4, 5)
    y = torch.randint(4, (4,))
    return enc.to(dtype), dec.to(dtype), x.to(dtype), y


@pytest.mark.parametrize("learn_prior", [False, True])
def test_kl_matches_monte_carlo(learn_prior):
    enc, dec, x, _ = _models(learn_prior=learn_prior, dtype=torch.float64)
    q = enc(x)
    with torch.no_grad():
        kl = q.kl(dec.prior())  # [B]
        z = q.sample(20000)  # [B, K, H]
        log_ratio = q.log_prob(z) - Normal(dec.prior_loc, dec.prior_log_scale.exp()).log_prob(z).sum(-1)  # [B, K]
    mc, se = log_ratio.mean(-1), log_ratio.std(-1) / math.sqrt(log_ratio.shape[-1])
    assert ((mc - kl).abs() < Z * se).all(), (mc, kl, se)


def test_kl_default_prior_matches_formula():
    enc, _, x, _ = _models(dtype=torch.float64)
    q = enc(x)
    mu, sigma = q.dist_.base_dist.loc, q.dist_.base_dist.scale
    exact = 0.5 * (sigma**2 + mu**2 - 1 - 2 * sigma.log()).sum(-1)
    torch.testing.assert_close(q.kl(), exact, rtol=1e-12, atol=1e-12)


def test_beta_one_equals_plain_elbo():
    enc, dec, x, y = _models()
    values, grads = [], []
    for kw in ({}, {"beta": 1.0}):
        torch.manual_seed(3)
        enc.zero_grad(), dec.zero_grad()
        loss = ELBO(enc, dec, n_samples=5, **kw)(x, target=y)
        loss.backward()
        values.append(loss.detach())
        grads.append([p.grad.clone() for p in [*enc.parameters(), *dec.parameters()]])
    assert torch.equal(values[0], values[1])
    for a, b in zip(*grads):
        assert torch.equal(a, b)


def test_beta_elbo_value_is_lik_plus_beta_log_ratio():
    # ELBO is pathwise only (the score-function ELBO is Reinforce, which has no beta).
    pathwise = True
    enc, dec, x, y = _models(learn_prior=True, dtype=torch.float64)
    beta = 0.3
    torch.manual_seed(5)
    loss = ELBO(enc, dec, n_samples=6, beta=beta)(x, target=y)
    torch.manual_seed(5)
    q = enc(x)
    z = q.rsample(6) if pathwise else q.sample(6)
    with torch.no_grad():
        log_lik = dec.likelihood(z).log_prob(y.unsqueeze(1))  # [B, K]
        log_prior = dec.prior().log_prob(z).sum(-1)
        direct = -(log_lik + beta * (log_prior - q.log_prob(z))).mean()
    torch.testing.assert_close(loss.detach(), direct, rtol=1e-10, atol=1e-10)


def _losses():
    out = [
        (ELBO, {"n_samples": 3}),
        (ELBO, {"n_samples": 3, "beta": 0.1}),
        (IWAE, {"n_samples": 3}),
        (VIMCO, {"n_samples": 3}),
    ]
    losses = importlib.import_module("vaekit.losses")
    for name in ("STL", "DReG", "IWAE_STL", "IWAESTL", "DReGIWAE"):  # pathwise estimators, where present
        if hasattr(losses, name):
            out.append((getattr(losses, name), {"n_samples": 3}))
    return out


@pytest.mark.parametrize("loss_cls,kw", _losses(), ids=lambda v: getattr(v, "__name__", str(v)))
def test_works_under_each_loss(loss_cls, kw):
    enc, dec, x, y = _models(learn_prior=True)
    loss = loss_cls(enc, dec, **kw)(x, target=y)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert enc.mean_head.weight.grad is not None and enc.mean_head.weight.grad.abs().sum() > 0
    assert dec.head.weight.grad is not None and dec.head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_dtype_and_device_follow_input(device):
    enc, dec, x, y = _models(dtype=torch.float64)
    enc, dec, x, y = enc.to(device), dec.to(device), x.to(device), y.to(device)
    q = enc(x)
    z = q.rsample(2)
    assert z.dtype == torch.float64 and q.kl().dtype == torch.float64
    assert dec(y, z).log_prob(y, z).dtype == torch.float64
    loss = ELBO(enc, dec, beta=0.5)(x, target=y)
    assert loss.dtype == torch.float64 and loss.device == x.device and q.kl().device == x.device


class _NoPrior(GenModel):
    def forward(self, x, z):
        return self

    def log_prob(self, x, z):
        return -(z**2).sum(-1)

    def sample(self, n):
        raise NotImplementedError


def test_bad_arguments_raise():
    enc, dec, x, y = _models()
    with pytest.raises(ValueError, match="log_prior"):
        ELBO(enc, _NoPrior(), beta=0.5)
    ELBO(enc, _NoPrior(), beta=1.0)  # beta = 1 needs no split of log p(x, z)
    with pytest.raises(ValueError, match="-1"):
        ELBO(enc, dec, beta=-1.0)
    with pytest.raises(ValueError, match=r"\[4, 7\].*|7"):
        VIBEncoder(torch.nn.Linear(5, 8), feature_dim=7, latent_dim=2)(x)
    with pytest.raises(TypeError, match="callable.*str 'bernoulli'"):  # no string selects a likelihood
        VIBDecoder(torch.nn.Linear(3, 4), latent_dim=3, likelihood="bernoulli")
    with pytest.raises(TypeError, match="callable.*int"):
        VIBDecoder(torch.nn.Linear(3, 4), latent_dim=3, likelihood=3)
    with pytest.raises(TypeError, match="Distribution.*Tensor"):
        VIBDecoder(torch.nn.Linear(3, 4), latent_dim=3, likelihood=lambda out: out).likelihood(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=">= 1; got 0"):
        VIBEncoder(torch.nn.Linear(5, 8), feature_dim=8, latent_dim=0)
    with pytest.raises(TypeError, match="int; got float"):
        VIBEncoder(torch.nn.Linear(5, 8), feature_dim=8, latent_dim=2.0)
    with pytest.raises(TypeError, match="nn.Module; got function"):
        VIBEncoder(lambda x: x, feature_dim=8, latent_dim=2)
    with pytest.raises(TypeError, match="nn.Module; got str"):
        VIBDecoder("linear", latent_dim=3)
    with pytest.raises(TypeError, match="Distribution.*Tensor"):
        vib_kl(torch.zeros(4, 3), Normal(torch.zeros(3), 1.0))
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        vib_kl(Normal(torch.zeros(4, 3), 1.0), Normal(torch.zeros(2), 1.0))


def test_likelihood_is_an_object_bernoulli_and_normal():
    # The likelihood is any callable out -> Distribution (DESIGN.md: no string selects a mode).
    from torch.distributions import Bernoulli, Categorical

    from vaekit.latents.vib import categorical_likelihood

    torch.manual_seed(4)
    head = torch.nn.Linear(3, 6)
    z, y_bin, y_real = torch.randn(2, 5, 3), torch.randint(2, (2, 6)).float(), torch.randn(2, 6)
    out = head(z)
    cases = [
        (VIBDecoder(head, latent_dim=3), torch.randint(6, (2,)), Categorical(logits=out)),
        (
            VIBDecoder(head, latent_dim=3, likelihood=categorical_likelihood),
            torch.randint(6, (2,)),
            Categorical(logits=out),
        ),
        (
            VIBDecoder(head, latent_dim=3, likelihood=lambda o: Bernoulli(logits=o)),
            y_bin,
            torch.distributions.Independent(Bernoulli(logits=out), 1),
        ),
        (
            VIBDecoder(head, latent_dim=3, likelihood=lambda o: Normal(o, 1.0)),
            y_real,
            torch.distributions.Independent(Normal(out, 1.0), 1),
        ),
    ]
    for dec, y, ref in cases:
        log_prior = Normal(0.0, 1.0).log_prob(z).sum(-1)  # [B, K]
        expected = ref.log_prob(y.unsqueeze(1)) + log_prior  # [B, K]
        torch.testing.assert_close(dec(y, z).log_prob(y, z), expected)
