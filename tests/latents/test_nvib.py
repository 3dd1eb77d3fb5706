"""NVIB and denoising attention: identity init == SDPA, mixture weights, KL terms, padding, losses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Dirichlet, Normal, kl_divergence

from vaekit.latents.nvib.attention import DenoisingAttention
from vaekit.latents.nvib.infnet import NVIBInfNet
from vaekit.latents.nvib.kl import kl_dirichlet, kl_gaussian
from vaekit.latents.nvib.layer import NVIB, nvib_log_prob
from vaekit.losses import ELBO, IWAE, VIMCO
from vaekit.models import GenModel

B, N, T, P, H = 3, 6, 4, 8, 2
PAD = torch.tensor([[False] * 6, [False] * 4 + [True] * 2, [False] + [True] * 5])


def _inputs(seed=0, dtype=torch.float64):
    g = torch.Generator(torch.get_default_device()).manual_seed(seed)
    return torch.randn(B, N, P, generator=g, dtype=dtype), torch.randn(B, T, P, generator=g, dtype=dtype)


def _sdpa_reference(mha: torch.nn.MultiheadAttention, x: torch.Tensor, u: torch.Tensor, pad: torch.Tensor):
    """Plain multi-head scaled dot-product attention of queries x over the vectors u."""
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
    e = P // H

    def heads(t):
        return t.view(t.shape[0], t.shape[1], H, e).transpose(1, 2)

    q, k, v = heads(F.linear(x, w_q, b_q)), heads(F.linear(u, w_k, b_k)), heads(F.linear(u, w_v, b_v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=~pad[:, None, None, :])
    return mha.out_proj(out.transpose(1, 2).reshape(x.shape[0], x.shape[1], P))


@pytest.mark.parametrize("kappa", [1, 3])
def test_identity_init_equals_sdpa_train_and_eval_forms(kappa):
    # The prior component is given pseudo-count 0.05 (< 0.1, pruned in evaluation) and a tiny
    # variance so that, at identity init, the latent is exactly the input and pi is softmax of
    # ||u||^2 / (2 sqrt d) (+ the component-independent b_a): the denoising bias cancels it.
    torch.manual_seed(0)
    u, x = _inputs()
    mha = torch.nn.MultiheadAttention(P, H, batch_first=True).double()
    attn = DenoisingAttention.from_multihead_attention(mha)
    nvib = NVIB(P, num_heads=H, kappa=kappa, prior_log_alpha=math.log(0.05), prior_var=1e-12).double().eval()
    lat = nvib(u, key_padding_mask=PAD)
    ref = _sdpa_reference(mha, x, u, PAD)
    torch.testing.assert_close(ref, mha(x, u, u, key_padding_mask=PAD)[0])
    train_form, w = attn(x, lat.z, lat.z, key_padding_mask=lat.key_padding_mask, log_pi=lat.log_pi)
    eval_form, _ = attn(x, lat.z, lat.z, **lat.attention_kwargs())  # var given: the evaluation form
    fast, none = attn(x, lat.z, lat.z, need_weights=False, **lat.attention_kwargs())
    torch.testing.assert_close(train_form, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(eval_form, ref, rtol=1e-9, atol=1e-9)  # sigma^2 = 1e-12 vs sqrt(E)
    torch.testing.assert_close(fast, eval_form, rtol=1e-12, atol=1e-12)
    assert none is None and w.shape == (B, T, kappa * (N + 1))


def test_eval_form_tends_to_train_form_with_means():
    torch.manual_seed(1)
    u, x = _inputs(1)
    attn = DenoisingAttention(P, H).double()
    nvib = NVIB(P, num_heads=H, identity_init=False).double().eval()
    lat = nvib(u, key_padding_mask=PAD)
    train_form, _ = attn(x, lat.mu, lat.mu, key_padding_mask=lat.key_padding_mask, log_pi=lat.log_pi)
    eval_form, _ = attn(
        x, lat.mu, lat.mu, key_padding_mask=lat.key_padding_mask, log_pi=lat.log_pi, var=torch.full_like(lat.mu, 1e-10)
    )
    torch.testing.assert_close(eval_form, train_form, rtol=1e-8, atol=1e-8)
    # With real variances the forms differ (integration over the component variance).
    differs, _ = attn(x, lat.mu, lat.mu, **lat.attention_kwargs())
    assert (differs - train_form).abs().max() > 1e-3


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kappa", [1, 2])
def test_pi_sums_to_one_and_is_zero_on_padding(training, kappa):
    torch.manual_seed(2)
    u, _ = _inputs(2)
    nvib = NVIB(P, kappa=kappa, identity_init=False).double().train(training)
    lat = nvib(u, key_padding_mask=PAD)
    pad = PAD.repeat_interleave(kappa, dim=1)
    assert torch.equal(lat.key_padding_mask[:, kappa:], pad) and not lat.key_padding_mask[:, :kappa].any()
    torch.testing.assert_close(lat.pi.sum(-1), torch.ones(B, dtype=torch.float64))
    assert (lat.pi[lat.key_padding_mask] == 0).all()
    assert lat.z.shape == (B, kappa * (N + 1), P)
    if not training:  # evaluation: z = mu and pi the pruned Dirichlet mean
        assert torch.equal(lat.z, lat.mu) and lat.var is not None
        alpha = lat.log_alpha.exp() * kappa
        keep = (alpha > 0.1) & ~lat.key_padding_mask
        mean = torch.where(keep, alpha, 0.0)
        torch.testing.assert_close(lat.pi, mean / mean.sum(-1, keepdim=True))
    else:
        assert lat.var is None


def test_eval_prunes_small_pseudo_counts():
    nvib = NVIB(P, identity_init=True, prior_log_alpha=math.log(0.05)).eval()
    with torch.no_grad():
        nvib.alpha_proj.bias.fill_(math.log(0.09))
        nvib.alpha_quad.weight.zero_()
        nvib.alpha_proj.weight[0, 0] = 10.0  # alpha = 0.09 * exp(10 u_0): large for u_0 > 0.1
    u = torch.zeros(1, 3, P)
    u[0, 0, 0] = 1.0
    lat = nvib(u)
    assert torch.equal(lat.pi > 0, torch.tensor([[False, True, False, False]]))


def test_training_draw_is_reparameterised_and_varies():
    torch.manual_seed(3)
    nvib = NVIB(P)
    u = torch.randn(2, 4, P, requires_grad=True)
    a, b = nvib(u), nvib(u)
    assert not torch.equal(a.z, b.z) and not torch.equal(a.log_pi, b.log_pi)
    (a.z.sum() + a.pi[:, 1:].pow(2).sum()).backward()
    assert (
        u.grad is not None
        and nvib.alpha_quad.weight.grad.abs().sum() > 0
        and nvib.logvar_proj.bias.grad.abs().sum() > 0
    )


def test_alpha_skip_adds_in_log_space():
    nvib = NVIB(P).eval()
    u, _ = _inputs(4, torch.float32)
    base = nvib(u)
    skip = torch.randn(B, N)
    lat = nvib(u, alpha_skip=skip)
    torch.testing.assert_close(lat.log_alpha[:, 1:], base.log_alpha[:, 1:] + skip)
    torch.testing.assert_close(lat.alpha_skip, base.alpha_skip + skip)


def _direct_kls(mu, logvar, log_alpha, pad, prior_mu, prior_var, prior_alpha, delta, kappa):
    """A float64 loop over batch elements and components, straight from the formulas."""
    kl_g, kl_d = [], []
    for b in range(mu.shape[0]):
        idx = [i for i in range(mu.shape[1]) if not pad[b, i]]
        alphas = [math.exp(float(log_alpha[b, i])) for i in idx]
        a0q = sum(alphas)
        k0 = len(idx)
        n = k0 / kappa
        g = 0.0
        for i, a in zip(idx, alphas):
            terms = []
            for h in range(mu.shape[2]):
                s = math.exp(float(logvar[b, i, h])) / prior_var
                terms.append(s + (float(mu[b, i, h]) - prior_mu) ** 2 / prior_var - 1 - math.log(s))
            g += a / a0q * sum(terms) / len(terms)
        kl_g.append(kappa * 0.5 * g)
        a0p = prior_alpha + delta * (n - 1)
        d = (
            math.lgamma(a0q)
            - math.lgamma(a0p)
            + (a0q - a0p)
            * (
                torch.special.digamma(torch.tensor(a0q / k0, dtype=torch.float64)).item()
                - torch.special.digamma(torch.tensor(a0q, dtype=torch.float64)).item()
            )
            + k0 * (math.lgamma(a0p / k0) - math.lgamma(a0q / k0))
        ) / n
        kl_d.append(d)
    return torch.tensor(kl_g, dtype=torch.float64), torch.tensor(kl_d, dtype=torch.float64)


@pytest.mark.parametrize("kappa", [1, 2])
def test_kl_terms_match_direct_float64_formulas(kappa):
    torch.manual_seed(5)
    u, _ = _inputs(5)
    nvib = NVIB(
        P, kappa=kappa, prior_mu=0.3, prior_var=0.7, prior_log_alpha=0.4, delta=0.5, identity_init=False
    ).double()
    lat = nvib(u, key_padding_mask=PAD)
    kl_g, kl_d = nvib.kl(lat)
    # The prior buffers were created in float32: use their stored values.
    prior_mu, prior_var, prior_alpha = (
        nvib.prior_mu[0].item(),
        nvib.prior_var[0].item(),
        nvib.prior_log_alpha.exp().item(),
    )
    ref_g, ref_d = _direct_kls(
        lat.mu.detach(),
        lat.logvar.detach(),
        lat.log_alpha.detach(),
        lat.key_padding_mask,
        prior_mu,
        prior_var,
        prior_alpha,
        0.5,
        kappa,
    )
    torch.testing.assert_close(kl_g, ref_g, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(kl_d, ref_d, rtol=1e-10, atol=1e-12)
    # KL_D is the KL between symmetric Dirichlets (total masses alpha0_q, alpha0_p over K0), over n.
    for b in range(B):
        valid = ~lat.key_padding_mask[b]
        k0 = int(valid.sum())
        a0q = lat.log_alpha[b][valid].exp().sum().detach()
        a0p = prior_alpha + 0.5 * (k0 / kappa - 1)
        exact = kl_divergence(
            Dirichlet(torch.full((k0,), float(a0q) / k0, dtype=torch.float64)),
            Dirichlet(torch.full((k0,), a0p / k0, dtype=torch.float64)),
        )
        torch.testing.assert_close(kl_d[b], exact / (k0 / kappa), rtol=1e-9, atol=1e-12)


def test_kl_dirichlet_zero_when_masses_equal_and_float32_input():
    # K0 = 4 components with total mass equal to the prior's alpha_p + delta (n - 1) = 1 + 3 = 4.
    log_alpha = torch.zeros(2, 5)
    pad = torch.tensor([[False] * 4 + [True], [False] * 4 + [True]])
    kl = kl_dirichlet(log_alpha, pad, prior_alpha=1.0, delta=1.0)
    assert kl.dtype == torch.float32 and torch.equal(kl, torch.zeros(2))
    assert (kl_dirichlet(log_alpha + 0.5, pad) > 0).all()
    # The prior component alone contributes 0 to KL_G (s = 1 and mu = mu_p).
    mu = torch.zeros(1, 1, 3)
    assert kl_gaussian(mu, torch.zeros(1, 1, 3), torch.zeros(1, 1), torch.zeros(1, 1, dtype=torch.bool)).item() == 0


@pytest.mark.parametrize("training", [True, False])
def test_padding_never_changes_unmasked_outputs(training):
    torch.manual_seed(6)
    nvib = NVIB(P, num_heads=H, identity_init=False).train(training)
    attn = DenoisingAttention(P, H).train(training)
    u = torch.randn(2, 4, P)
    x = torch.randn(2, 3, P)
    pad = torch.tensor([[False, False, False, True], [False, False, True, True]])
    garbage = u.clone()
    garbage[pad] = 1e3 * torch.randn(int(pad.sum()), P)  # anything in padded slots
    outs = []
    for inp in (u, garbage):
        torch.manual_seed(7)  # the same noise for both runs
        lat = nvib(inp, key_padding_mask=pad)
        kl = nvib.kl(lat)
        out, _ = attn(x, lat.z, lat.z, **lat.attention_kwargs())
        valid = ~lat.key_padding_mask
        outs.append((out, lat.z[valid], lat.log_pi[valid], *kl, nvib.log_prob(lat) if training else kl[0]))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_log_prob_matches_distributions():
    torch.manual_seed(8)
    u, _ = _inputs(8)
    nvib = NVIB(P, identity_init=False).double()
    lat = nvib(u, key_padding_mask=PAD)
    lp = nvib.log_prob(lat)
    for b in range(B):
        valid = ~lat.key_padding_mask[b]
        ref = Normal(lat.mu[b][valid], (0.5 * lat.logvar[b][valid]).exp()).log_prob(lat.z[b][valid]).sum()
        ref = ref + Dirichlet(lat.log_alpha[b][valid].exp()).log_prob(lat.pi[b][valid])
        torch.testing.assert_close(lp[b], ref)
    batched = nvib_log_prob(
        lat.z.unsqueeze(1),
        lat.log_pi.unsqueeze(1),
        lat.mu.unsqueeze(1),
        lat.logvar.unsqueeze(1),
        lat.log_alpha.unsqueeze(1),
        lat.key_padding_mask.unsqueeze(1),
    )
    torch.testing.assert_close(batched.squeeze(1), lp)


class _MixtureDecoder(GenModel):
    """p(z, pi) p(x|z, pi): N(0, I) components, flat Dirichlet weights, denoising-attention decoder."""

    def __init__(self):
        super().__init__()
        self.queries = torch.nn.Parameter(torch.randn(N, P))
        self.attn = DenoisingAttention(P, H)

    def forward(self, x, z):
        return self

    def log_prob(self, x, zp):
        b, k = zp.shape[:2]
        z, log_pi = zp[..., :-1].flatten(0, 1), zp[..., -1].flatten(0, 1)  # [B*K, K0, P], [B*K, K0]
        valid = ~torch.isneginf(log_pi)
        prior = torch.where(valid, Normal(0.0, 1.0).log_prob(z).sum(-1), 0.0).sum(-1)
        prior = prior + torch.lgamma(valid.sum(-1).to(z.dtype))  # flat Dirichlet density over K0 components
        out, _ = self.attn(self.queries.expand(b * k, N, P), z, z, need_weights=False, log_pi=log_pi)
        lik = Normal(out, 1.0).log_prob(x.repeat_interleave(k, dim=0)).sum((-1, -2))
        return (prior + lik).view(b, k)  # [B, K]

    def sample(self, n):
        raise NotImplementedError


class _Encoder(torch.nn.Module):
    def forward(self, x):
        return x, PAD[: x.shape[0], : x.shape[1]]


def _loss_cases():
    import vaekit.losses as losses

    cases = [ELBO, IWAE, VIMCO] + [getattr(losses, n) for n in ("STL", "DReG", "Reinforce") if hasattr(losses, n)]
    return cases


@pytest.mark.parametrize("loss_cls", _loss_cases(), ids=lambda c: c.__name__)
def test_works_under_each_loss(loss_cls):
    torch.manual_seed(9)
    q = NVIBInfNet(_Encoder(), NVIB(P, num_heads=H, identity_init=False))
    p = _MixtureDecoder()
    x, _ = _inputs(9, torch.float32)
    loss = loss_cls(q, p, n_samples=3)(x)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss)
    for param in (q.nvib.mu_proj.weight, q.nvib.alpha_proj.weight, p.queries):
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_device_follow_input(dtype, device):
    nvib, attn = NVIB(P, num_heads=H).to(device, dtype), DenoisingAttention(P, H, device=device, dtype=dtype)
    u, x = (t.to(device) for t in _inputs(10, dtype))
    for training in (True, False):
        lat = nvib.train(training)(u, key_padding_mask=PAD.to(device))
        out, w = attn(x, lat.z, lat.z, **lat.attention_kwargs())
        for t in (lat.z, lat.log_pi, out, w, *nvib.kl(lat)):
            assert t.dtype == dtype and t.device == u.device


def test_bad_arguments_raise_with_expected_and_actual():
    nvib, attn = NVIB(P, num_heads=H), DenoisingAttention(P, H)
    u = torch.randn(2, 3, P)
    with pytest.raises(ValueError, match=r"embed_dim=8.*\(2, 3, 5\)"):
        nvib(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        nvib(u, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 3\)"):
        nvib(u, alpha_skip=torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"divisible"):
        NVIB(P, num_heads=3)
    with pytest.raises(ValueError, match=r"embed_dim=8.*\(2, 4, 6\)"):
        attn(torch.randn(2, 4, 6), u, u)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        attn(torch.randn(2, 4, P), u, u, log_pi=torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 5\)"):
        attn(torch.randn(2, 4, P), u, u, key_padding_mask=torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 4\)"):
        attn(torch.randn(2, 4, P), u, u, attn_mask=torch.zeros(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="batch_first"):
        DenoisingAttention(P, H, batch_first=False)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        kl_dirichlet(torch.zeros(2, 3), torch.zeros(2, 4, dtype=torch.bool))
    # A wrong type is a TypeError naming what was expected and what was received.
    with pytest.raises(TypeError, match="bool tensor.*torch.float32"):
        nvib(u, key_padding_mask=torch.zeros(2, 3))
    with pytest.raises(TypeError, match="u must be a tensor.*list"):
        nvib([[0.0] * P])
    with pytest.raises(TypeError, match="alpha_skip must be a tensor.*float"):
        nvib(u, alpha_skip=0.5)
    with pytest.raises(TypeError, match="num_heads must be an int; got float"):
        NVIB(P, num_heads=2.0)
    with pytest.raises(TypeError, match="prior_var must be a real number; got str"):
        NVIB(P, prior_var="1")
    with pytest.raises(TypeError, match="key must be a tensor; got NoneType"):
        attn(torch.randn(2, 4, P), None, u)
    with pytest.raises(TypeError, match="embed_dim must be an int; got float"):
        DenoisingAttention(8.0, 2)
    with pytest.raises(TypeError, match="NVIB layer; got Linear"):
        NVIBInfNet(torch.nn.Identity(), torch.nn.Linear(P, P))
    with pytest.raises(TypeError, match="float tensor.*torch.int64"):
        kl_dirichlet(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool tensor.*torch.float32"):
        kl_dirichlet(torch.zeros(2, 3), torch.zeros(2, 3))


def test_inf_in_padding_gives_finite_gradients():
    torch.manual_seed(11)
    nvib, attn = NVIB(P, num_heads=H, identity_init=False), DenoisingAttention(P, H)
    u = torch.randn(2, 4, P)
    pad = torch.tensor([[False, False, False, True], [False, False, True, True]])
    u[pad] = math.inf
    lat = nvib(u, key_padding_mask=pad)
    out, _ = attn(torch.randn(2, 3, P), lat.z, lat.z, **lat.attention_kwargs())
    (out.sum() + sum(k.sum() for k in nvib.kl(lat)) + nvib.log_prob(lat).sum()).backward()
    for param in (*nvib.parameters(), *attn.parameters()):
        assert torch.isfinite(param.grad).all()


def test_huge_pseudo_counts_stay_finite_in_training():
    # Identity init gives log alpha = ||u||^2 / (2 sqrt d): 250 here, far beyond exp's float32 range.
    nvib = NVIB(P, num_heads=H).train()
    u = torch.full((2, 3, P), 10.0, requires_grad=True)
    u.data[0, 1] = 0.1  # one small component next to huge ones
    lat = nvib(u)
    assert torch.isfinite(lat.log_pi).all()
    torch.testing.assert_close(lat.pi.sum(-1), torch.ones(2))
    # A component with alpha >> the others takes (almost) all the weight, as the Dirichlet mean says.
    assert lat.pi[1, 1:].sum() > 1 - 1e-5 and lat.pi[0, 2] < 1e-6  # u[0, 1] is component 2
    lat.log_pi[:, 1].sum().backward()
    assert torch.isfinite(u.grad).all()


# -- KL_D for large pseudo-counts (issue 8) -----------------------------------------------------


def _kl_dirichlet_mpmath(log_alphas, prior_alpha=1.0, delta=1.0, kappa=1):
    """KL_D exactly as the formula is written, evaluated with 100 significant digits."""
    mpmath = pytest.importorskip("mpmath")  # a test dependency (the [test] extra)
    with mpmath.workdps(100):
        k0 = len(log_alphas)
        n = mpmath.mpf(k0) / kappa
        a = mpmath.fsum(mpmath.exp(mpmath.mpf(v)) for v in log_alphas)
        ap = mpmath.mpf(prior_alpha) + delta * (n - 1)
        kl = (
            mpmath.loggamma(a)
            - mpmath.loggamma(ap)
            + (a - ap) * (mpmath.digamma(a / k0) - mpmath.digamma(a))
            + k0 * (mpmath.loggamma(ap / k0) - mpmath.loggamma(a / k0))
        ) / n
        return float(kl)


@pytest.mark.parametrize("k0", [2, 6, 50, 513])
def test_kl_dirichlet_matches_high_precision_reference_up_to_log_alpha_88(k0):
    # Evaluated as written the formula returned 0 at log alpha = 40 and -1.6e24 at 88 (K0 = 6).
    levels = [-20.0, -5.0, 0.3, 1.0, 2.0, 5.0, 10.0, 20.0, 35.0, 40.0, 48.0, 60.0, 88.0]
    rows = [[0.0] + [v] * (k0 - 1) for v in levels]  # the prior component (alpha_p = 1) and K0 - 1 equal ones
    rows += [[0.0] + torch.linspace(-3, v, k0 - 1, dtype=torch.float64).tolist() for v in (10.0, 47.0, 88.0)]
    rows += [[v] * k0 for v in (40.0, 88.0)]  # the case (K0 = 6: exact 16.33 and 36.33)
    log_alpha = torch.tensor(rows, dtype=torch.float64)
    got = kl_dirichlet(log_alpha, torch.zeros_like(log_alpha, dtype=torch.bool), prior_alpha=1.0, delta=1.0)
    ref = torch.tensor([_kl_dirichlet_mpmath(r) for r in rows], dtype=torch.float64)
    assert (ref > 1e-3).all()  # relative accuracy is meaningful: no reference is near 0
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=0)


def test_kl_dirichlet_padding_kappa_and_prior_against_reference():
    log_alpha = torch.tensor(
        [[0.4, 70.0, 70.0, 60.0, -1.0, 5.0], [0.4, 88.0, 88.0, 3.0, 0.0, 0.0]], dtype=torch.float64
    )
    pad = torch.tensor([[False] * 5 + [True], [False] * 3 + [True] * 3])
    got = kl_dirichlet(log_alpha, pad, prior_alpha=math.exp(0.4), delta=0.5, kappa=1)
    ref = [_kl_dirichlet_mpmath(r[~m].tolist(), math.exp(0.4), 0.5) for r, m in zip(log_alpha, pad)]
    torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64), rtol=1e-6, atol=0)
    lam = log_alpha[:, :4].repeat_interleave(2, dim=1) - math.log(2)  # kappa = 2 copies carry alpha / 2
    got2 = kl_dirichlet(lam, torch.zeros_like(lam, dtype=torch.bool), prior_alpha=2.0, delta=0.25, kappa=2)
    ref2 = [_kl_dirichlet_mpmath(r.tolist(), 2.0, 0.25, kappa=2) for r in lam]
    torch.testing.assert_close(got2, torch.tensor(ref2, dtype=torch.float64), rtol=1e-6, atol=0)


def test_kl_dirichlet_gradient_matches_high_precision_reference():
    mpmath = pytest.importorskip("mpmath")
    rows = [[0.0, 48.0, 47.0, 45.0], [0.0, 88.0, 80.0, 2.0], [0.0, 1.0, 2.0, 3.0]]
    log_alpha = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    kl_dirichlet(log_alpha, torch.zeros(3, 4, dtype=torch.bool)).sum().backward()
    with mpmath.workdps(100):
        for r, grad in zip(rows, log_alpha.grad):
            for i in range(4):

                def f(v, r=r, i=i):
                    return _kl_dirichlet_mpmath_mp(mpmath, [v if j == i else mpmath.mpf(x) for j, x in enumerate(r)])

                exact = float(mpmath.diff(f, mpmath.mpf(r[i])))
                assert abs(float(grad[i]) - exact) <= 1e-6 * max(abs(exact), 1e-3), (r, i, float(grad[i]), exact)


def _kl_dirichlet_mpmath_mp(mpmath, log_alphas, prior_alpha=1.0, delta=1.0):
    k0 = len(log_alphas)
    a = mpmath.fsum(mpmath.exp(v) for v in log_alphas)
    ap = mpmath.mpf(prior_alpha) + delta * (k0 - 1)
    return (
        mpmath.loggamma(a)
        - mpmath.loggamma(ap)
        + (a - ap) * (mpmath.digamma(a / k0) - mpmath.digamma(a))
        + k0 * (mpmath.loggamma(ap / k0) - mpmath.loggamma(a / k0))
    ) / k0


def test_identity_init_at_transformer_width_gives_the_exact_dirichlet_kl():
    # Layer-normalised inputs have ||u||^2 = 768 (less layer_norm's eps), so identity init gives
    # log alpha = 768 / (2 sqrt 64) = 48.
    torch.manual_seed(11)
    nvib = NVIB(768, num_heads=12)
    u = F.layer_norm(torch.randn(2, 20, 768, dtype=torch.float64), (768,))
    lat = nvib.double()(u)
    torch.testing.assert_close(lat.log_alpha[:, 1:], torch.full((2, 20), 48.0, dtype=torch.float64), rtol=1e-4, atol=0)
    _, kl_d = nvib.kl(lat)
    ref = [_kl_dirichlet_mpmath(r.tolist()) for r in lat.log_alpha.detach()]
    torch.testing.assert_close(kl_d, torch.tensor(ref, dtype=torch.float64), rtol=1e-6, atol=0)
    assert 22.3 < kl_d.min() and kl_d.max() < 22.5  # 22.4 nats, not the 0 of the formula as written


# -- NVIB + DenoisingAttention at identity initialisation: exactly the documented conditions --------


def _identity_pair(**nvib_kwargs):
    mha = torch.nn.MultiheadAttention(P, H, batch_first=True).double()
    return mha, DenoisingAttention.from_multihead_attention(mha), NVIB(P, num_heads=H, **nvib_kwargs).double()


def test_identity_init_equals_sdpa_in_eval_with_pruned_prior_training_form_exactly():
    # Documented: eval mode, prior pseudo-count <= prune_below, and the training form of the
    # attention (log_pi, no var) is exact whatever prior_var is.
    torch.manual_seed(12)
    u, x = _inputs(12)
    mha, attn, nvib = _identity_pair(prior_log_alpha=math.log(0.05))  # alpha_p = 0.05 < prune_below: pruned
    lat = nvib.eval()(u, key_padding_mask=PAD)
    assert (lat.pi[:, 0] == 0).all()
    out, _ = attn(x, lat.z, lat.z, key_padding_mask=lat.key_padding_mask, log_pi=lat.log_pi)
    torch.testing.assert_close(out, _sdpa_reference(mha, x, u, PAD), rtol=1e-10, atol=1e-10)


def test_identity_init_eval_form_tends_to_sdpa_as_prior_var_vanishes():
    # Documented: the evaluation form (var given) equals SDPA only as sigma^2 = prior_var -> 0.
    torch.manual_seed(13)
    u, x = _inputs(13)
    errors = []
    for prior_var in (1.0, 1e-3, 1e-6):
        mha, attn, nvib = _identity_pair(prior_log_alpha=math.log(0.05), prior_var=prior_var)
        lat = nvib.eval()(u, key_padding_mask=PAD)
        out, _ = attn(x, lat.z, lat.z, **lat.attention_kwargs())
        errors.append((out - _sdpa_reference(mha, x, u, PAD)).abs().max().item())
    assert errors[0] > 1e-2 and errors[1] < 1e-2 and errors[2] < 1e-5
    assert errors[2] < errors[1] / 100  # the error is O(prior_var)


def test_identity_init_differs_from_sdpa_without_the_conditions():
    # At the defaults (alpha_p = 1 > prune_below: the prior component takes part; prior_var = 1)
    # and in training mode (Gaussian and Gamma draws), the outputs are not SDPA's.
    torch.manual_seed(14)
    u, x = _inputs(14)
    mha, attn, nvib = _identity_pair()
    ref = _sdpa_reference(mha, x, u, PAD)
    lat = nvib.eval()(u, key_padding_mask=PAD)
    assert (lat.pi[:, 0] > 0).all()
    out_train_form, _ = attn(x, lat.z, lat.z, key_padding_mask=lat.key_padding_mask, log_pi=lat.log_pi)
    assert (out_train_form - ref).abs().max() > 1e-2
    mha, attn, nvib = _identity_pair(prior_log_alpha=math.log(0.05), prior_var=1e-12)
    lat = nvib.train()(u, key_padding_mask=PAD)
    out, _ = attn(x, lat.z, lat.z, **lat.attention_kwargs())
    assert (out - ref).abs().max() > 1e-2
