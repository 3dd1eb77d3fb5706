"""InfNet.log_prob_detached: same value as log_prob, gradient only along the sample path."""

from __future__ import annotations

import torch
from torch.distributions import LogNormal, Normal

from vaekit import DistributionInfNet, GaussianEncoder, InfNet


class _ParamsNormal(InfNet):
    """A hand-written InfNet that reads its parameters from params_ only (uses the default)."""

    has_rsample = True

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 4).double()

    def forward(self, x):
        loc, log_scale = self.lin(x).chunk(2, dim=-1)
        self.params_ = {"loc": loc, "scale": log_scale.exp()}
        return self

    def sample(self, n):
        return self.rsample(n).detach()

    def rsample(self, n):
        eps = torch.randn(self.params_["loc"].shape[0], n, 2, dtype=torch.float64)
        return self.params_["loc"].unsqueeze(1) + self.params_["scale"].unsqueeze(1) * eps

    def log_prob(self, z):
        return Normal(self.params_["loc"].unsqueeze(1), self.params_["scale"].unsqueeze(1)).log_prob(z).sum(-1)


class _LogNormalEnc(DistributionInfNet):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 4).double()

    def distribution(self, x) -> LogNormal:
        loc, log_scale = self.lin(x).chunk(2, dim=-1)
        return LogNormal(loc, log_scale.exp())


def _check(q):
    x = torch.randn(5, 3, dtype=torch.float64)
    z = q(x).rsample(4)  # [5, 4, 2]
    full, stopped = q.log_prob(z), q.log_prob_detached(z)
    torch.testing.assert_close(full, stopped)
    # With the sample detached nothing reaches the parameters ...
    assert not q.log_prob_detached(z.detach()).requires_grad
    # ... and with the sample attached the gradient is (d log q / d z)(d z / d phi) exactly.
    params = list(q.parameters())
    got = torch.autograd.grad(stopped.sum(), params, retain_graph=True)
    z_leaf = z.detach().requires_grad_(True)
    dz = torch.autograd.grad(q.log_prob(z_leaf).sum(), z_leaf)[0]
    want = torch.autograd.grad(z, params, grad_outputs=dz)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    assert q.log_prob(z).requires_grad  # params_ / dist_ restored with their graph


def test_distribution_infnet_normal():
    _check(GaussianEncoder(3, 2).double())


def test_distribution_infnet_transformed_family():
    _check(_LogNormalEnc())


def test_default_swaps_params_and_restores_them():
    q = _ParamsNormal()
    _check(q)
    assert q.params_["loc"].requires_grad


def test_detached_copy_of_a_composite_transformed_distribution():
    """Nested transforms, an inverse transform and a parameterised transform: same value, no
    gradient into the parameters, the original keeps its graph."""
    from torch.distributions import AffineTransform, ExpTransform, Normal, TransformedDistribution

    from vaekit.models import detached

    loc = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    dist = TransformedDistribution(Normal(loc, 1.0), [ExpTransform(), ExpTransform().inv, AffineTransform(loc, 2.0)])
    y = dist.rsample()
    torch.testing.assert_close(detached(dist).log_prob(y), dist.log_prob(y))
    assert not detached(dist).log_prob(y.detach()).requires_grad
    assert dist.log_prob(y.detach()).requires_grad
