"""IOB: forward_all vs forward_neck, the width sampler's distribution, eval determinism, gradients,
the ordered InfNet wrapper, ordered_loss and intrinsic_dimension."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Normal

from vaekit.latents import BernoulliDecoder, GaussianEncoder
from vaekit.latents.iob.infnet import OrderedInfNet
from vaekit.latents.iob.layer import IOBLayer, chi2_1_critical_value, intrinsic_dimension, ordered_loss
from vaekit.latents.iob.widths import GeometricWidths, PoissonWidths, UniformWidths
from vaekit.losses import ELBO, IWAE, VIMCO

# Statistical asserts: chi-square GOF at p > 1e-4 and z-tests at |z| < 4.5 (failure rate <= 1e-4 each).


@pytest.mark.parametrize("shape,dim", [((3, 5), -1), ((2, 5, 4), 1), ((2, 3, 4, 5), -1), ((2, 3, 5, 2), 2)])
def test_forward_all_rows_equal_forward_neck(shape, dim):
    torch.manual_seed(0)
    x = torch.randn(shape)
    f = shape[dim]
    layer = IOBLayer(f, dim=dim)
    every = layer.forward_all(x)
    assert every.shape == (shape[0], f + 1, *shape[1:])
    for k in range(f + 1):
        assert torch.equal(every[:, k], layer.forward_neck(x, k))
    assert torch.equal(layer(x), x) and torch.equal(every[:, f], x)
    assert (every[:, 0] == 0).all()


def test_forward_neck_per_example_and_mask():
    x = torch.randn(4, 3)
    layer = IOBLayer(3)
    widths = torch.tensor([0, 1, 3, 2])
    out = layer.forward_neck(x, widths)
    for b in range(4):
        assert torch.equal(out[b], layer.forward_neck(x[b : b + 1], int(widths[b]))[0])
    mask = torch.tensor([1.0, 0.5, 0.0])
    torch.testing.assert_close(layer.forward_mask(x, mask), x * mask)
    mask_b = torch.rand(4, 3)
    torch.testing.assert_close(layer.forward_mask(x, mask_b), x * mask_b)


def _truncated_pmf(widths, f):
    n = np.arange(f + 1)
    if isinstance(widths, UniformWidths):
        pmf = np.ones(f + 1)
    elif isinstance(widths, GeometricWidths):
        pmf = stats.geom.pmf(n + 1, widths.p)  # scipy's geometric counts trials from 1
    else:
        pmf = stats.poisson.pmf(n, f / 2 if widths.rate is None else widths.rate)
    return pmf / pmf.sum()


@pytest.mark.parametrize(
    "widths", [UniformWidths(), GeometricWidths(0.3), PoissonWidths(3.0), PoissonWidths()], ids=repr
)
def test_sampler_matches_truncated_distribution(widths):
    f, n = 6, 30000
    layer = IOBLayer(f, widths=widths, generator=torch.Generator(torch.get_default_device()).manual_seed(1234))
    draws = layer.sample_widths(n)
    assert draws.shape == (n,) and draws.dtype == torch.long
    counts = np.bincount(draws.cpu().numpy(), minlength=f + 1)
    assert counts[0] > 0 and counts[f] > 0  # every width, 0 and F included, is reached
    expected = _truncated_pmf(widths, f) * n
    assert expected.min() > 5  # the chi-square approximation holds
    assert stats.chisquare(counts, expected).pvalue > 1e-4
    np.testing.assert_allclose(layer.width_probs().cpu().numpy(), _truncated_pmf(widths, f), rtol=1e-6)


def test_widths_accept_any_callable_and_are_normalised():
    # A user's width distribution is any callable n_features -> [F+1] non-negative weights.
    layer = IOBLayer(3, widths=lambda f: torch.arange(1.0, f + 2))  # weights 1 : 2 : 3 : 4
    torch.testing.assert_close(layer.width_probs(), torch.tensor([0.1, 0.2, 0.3, 0.4]))
    assert "widths=GeometricWidths(p=0.25)" in repr(IOBLayer(3, widths=GeometricWidths(0.25)))
    assert torch.equal(GeometricWidths(1.0)(3), torch.tensor([1.0, 0, 0, 0], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"shape \(4,\); got shape \(3,\)"):
        IOBLayer(3, widths=lambda f: torch.ones(f))
    with pytest.raises(ValueError, match="non-negative"):
        IOBLayer(3, widths=lambda f: torch.tensor([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(TypeError, match="float tensor.*list"):
        IOBLayer(3, widths=lambda f: [1.0] * (f + 1))
    with pytest.raises(TypeError, match="callable.*str"):  # no string selects a width distribution
        IOBLayer(3, widths="geometric")
    with pytest.raises(ValueError, match=r"\(0, 1\]; got 0"):
        GeometricWidths(0)
    with pytest.raises(ValueError, match="> 0"):
        PoissonWidths(-1.0)
    with pytest.raises(TypeError, match="real number; got str"):
        PoissonWidths("3")


def test_sampler_uses_given_generator_not_global_rng():
    layer = IOBLayer(5)
    a = layer.sample_widths(50, generator=torch.Generator(torch.get_default_device()).manual_seed(7))
    torch.manual_seed(0)
    b = layer.sample_widths(50, generator=torch.Generator(torch.get_default_device()).manual_seed(7))
    assert torch.equal(a, b)


def test_eval_mode_is_deterministic_full_width():
    layer = IOBLayer(4).eval()
    x = torch.randn(8, 4)
    out, widths = layer.forward_sampled(x)
    assert torch.equal(out, x) and (widths == 4).all()
    q = OrderedInfNet(GaussianEncoder(6, 4), IOBLayer(4)).eval()
    q(torch.randn(8, 6))
    assert (q.widths_ == 4).all()


def test_masked_features_get_zero_gradient():
    layer = IOBLayer(5)
    x = torch.randn(3, 5, requires_grad=True)
    layer.forward_neck(x, 2).sum().backward()
    assert torch.equal(x.grad, torch.tensor([[1.0, 1, 0, 0, 0]] * 3))
    x.grad = None
    widths = torch.tensor([0, 3, 5])
    (layer.forward_neck(x, widths) * 2).sum().backward()
    assert torch.equal(x.grad, 2 * (torch.arange(5) < widths.unsqueeze(-1)).float())
    x.grad = None
    out, w = layer.train().forward_sampled(x, generator=torch.Generator(torch.get_default_device()).manual_seed(0))
    out.sum().backward()
    assert torch.equal(x.grad, (torch.arange(5) < w.unsqueeze(-1)).float())
    # An inf in a masked feature neither leaks into the output nor into the gradient.
    y = torch.tensor([[1.0, math.inf]], requires_grad=True)
    out = layer_1 = IOBLayer(2).forward_neck(y, 1)
    assert torch.isfinite(out).all()
    layer_1.sum().backward()
    assert torch.equal(y.grad, torch.tensor([[1.0, 0.0]]))


def test_ordered_loss_exhaustive_and_sampled():
    torch.manual_seed(0)
    layer = IOBLayer(4, widths=GeometricWidths(0.4))
    code = torch.randn(6, 4)
    w = torch.randn(4)

    def loss_fn(c):
        return (c @ w - 1.0) ** 2  # [N]

    exact = sum(layer.width_probs()[k] * loss_fn(layer.forward_neck(code, k)).mean() for k in range(5))
    torch.testing.assert_close(ordered_loss(layer, code, loss_fn, exhaustive=True), exact)
    gen = torch.Generator(torch.get_default_device()).manual_seed(3)
    draws = torch.stack([ordered_loss(layer, code, loss_fn, generator=gen) for _ in range(4000)])
    se = draws.std() / math.sqrt(draws.numel())
    assert abs(draws.mean() - exact) < 4.5 * se


def test_ordered_infnet_log_prob_is_open_feature_density():
    torch.manual_seed(0)
    enc = GaussianEncoder(6, 4)
    q = OrderedInfNet(enc, IOBLayer(4))
    x = torch.randn(5, 6)
    q(x)
    z = q.rsample(3)
    keep = torch.arange(4) < q.widths_.view(5, 1, 1)  # [B, 1, F]
    assert (z[~keep.expand_as(z)] == 0).all()
    mu, log_sigma = enc.net(x).chunk(2, dim=-1)
    per = Normal(mu.unsqueeze(1), log_sigma.exp().unsqueeze(1)).log_prob(z)  # [B, K, F]
    torch.testing.assert_close(q.log_prob(z), (per * keep).sum(-1))
    stopped = q.log_prob_detached(z)
    torch.testing.assert_close(stopped, q.log_prob(z))
    assert not q.log_prob_detached(z.detach()).requires_grad  # no path into q's parameters
    bad = z.clone()
    bad[~keep.expand_as(z)] = 1.0
    closed = (q.widths_ < 4).view(5, 1).expand(5, 3)
    assert torch.isneginf(q.log_prob(bad)[closed]).all()


def _loss_classes():
    import vaekit.losses as losses

    return [ELBO, IWAE, VIMCO] + [getattr(losses, n) for n in ("STL", "DReG") if hasattr(losses, n)]


@pytest.mark.parametrize("loss_cls", _loss_classes(), ids=lambda c: c.__name__)
def test_ordered_infnet_under_losses(loss_cls):
    torch.manual_seed(0)
    q = OrderedInfNet(GaussianEncoder(6, 4), IOBLayer(4))
    p = BernoulliDecoder(4, 6)
    loss = loss_cls(q, p, n_samples=3)(torch.bernoulli(torch.full((5, 6), 0.5)))
    loss.backward()
    assert torch.isfinite(loss)
    assert q.inf_net.net.weight.grad is not None and p.net.weight.grad is not None


def test_chi2_critical_value_matches_scipy():
    for level in (0.05, 0.01, 0.2):
        assert chi2_1_critical_value(level) == pytest.approx(stats.chi2.ppf(1 - level, 1), rel=1e-10)


def test_intrinsic_dimension_recovers_linear_rank():
    # x = A s + noise with rank(A) = 3 in D = 10: the PCA truncation error at width k is the sum of
    # the eigenvalues beyond the k-th, which the best linear ordered autoencoder attains.
    gen = torch.Generator(torch.get_default_device()).manual_seed(0)
    n, d, rank = 2000, 10, 3
    a = torch.randn(d, rank, generator=gen, dtype=torch.float64)
    x = torch.randn(n, rank, generator=gen, dtype=torch.float64) @ a.T
    x = x + 0.01 * torch.randn(n, d, generator=gen, dtype=torch.float64)
    xc = x - x.mean(0)
    eig = torch.linalg.eigvalsh(xc.T @ xc / n).flip(0)  # descending
    errors = torch.stack([eig[k:].sum() for k in range(d + 1)])  # E_k, squared error summed over features
    variance = xc.var(0, unbiased=False).sum()
    assert intrinsic_dimension(errors, n, variance) == rank
    assert intrinsic_dimension(errors.tolist(), n, float(variance), level=0.01) == rank
    # All gains significant -> F; no gain at all -> 0.
    assert intrinsic_dimension([3.0, 2.0, 1.0, 0.0], 1000, 3.0) == 3
    assert intrinsic_dimension([1.0, 1.0, 1.0], 1000, 1.0) == 0


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_dtype_and_device_follow_input(device):
    layer = IOBLayer(3).to(device)
    x = torch.randn(2, 3, dtype=torch.float64, device=device)
    outs = [
        layer.forward_neck(x, 1),
        layer.forward_neck(x, torch.tensor([0, 3], device=device)),
        layer.forward_all(x),
        layer.forward_mask(x, torch.ones(3, device=device)),
        layer.forward_sampled(x)[0],
    ]
    assert all(o.dtype == torch.float64 and o.device == x.device for o in outs)
    q = OrderedInfNet(GaussianEncoder(4, 3), layer).to(device, torch.float64)
    z = q(torch.randn(2, 4, dtype=torch.float64, device=device)).rsample(2)
    assert z.device == x.device and q.log_prob(z).dtype == torch.float64


def test_bad_arguments_raise_with_expected_and_actual():
    layer = IOBLayer(3)
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match=r"0\.\.3.*4"):
        layer.forward_neck(x, 4)
    with pytest.raises(ValueError, match=r"0\.\.3.*-1"):
        layer.forward_neck(x, -1)
    with pytest.raises(ValueError, match=r"0\.\.3.*-1\.\.2"):
        layer.forward_neck(x, torch.tensor([-1, 2]))
    with pytest.raises(ValueError, match=r"\[2\].*\(3,\)"):
        layer.forward_neck(x, torch.tensor([1, 2, 0]))
    with pytest.raises(ValueError, match=r"\(3,\) or \(2, 3\).*\(4,\)"):
        layer.forward_mask(x, torch.ones(4))
    with pytest.raises(ValueError, match=r"4 features.*n_features=3"):
        layer(torch.randn(2, 4))
    with pytest.raises(TypeError, match="widths must be a callable"):
        IOBLayer(3, widths="binomial")
    with pytest.raises(TypeError, match="n_features must be an int; got float"):
        IOBLayer(3.0)
    with pytest.raises(ValueError, match="n_features must be >= 1; got 0"):
        IOBLayer(0)
    with pytest.raises(TypeError, match="n_open must be an int or a tensor.*float"):
        layer.forward_neck(x, 1.5)
    with pytest.raises(TypeError, match="integer tensor.*torch.float32"):
        layer.forward_neck(x, torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="mask must be a tensor; got list"):
        layer.forward_mask(x, [1.0, 0.0, 1.0])
    with pytest.raises(TypeError, match="x must be a tensor.*list"):
        layer([[1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match="IOBLayer; got Linear"):
        OrderedInfNet(GaussianEncoder(4, 3), torch.nn.Linear(3, 3))
    with pytest.raises(TypeError, match="n_points must be an int; got float"):
        intrinsic_dimension([1.0, 0.5], 10.0, 1.0)
    with pytest.raises(ValueError, match=r"0\.\.3.*5"):
        OrderedInfNet(GaussianEncoder(4, 3), layer, n_open=5)
    with pytest.raises(ValueError, match="n_points"):
        intrinsic_dimension([1.0, 0.5], 0, 1.0)
