"""The model API: abstract methods, a minimal user subclass with every score-function loss, and the
torch.distributions-backed bases (derived sample/rsample/log_prob/has_rsample and shapes)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from losses.loss_cases import LOSS_CASES, as_case
from torch.distributions import Bernoulli, Distribution, Normal

from vaekit import VIMCO, DistributionGenModel, DistributionInfNet, GenModel, InfNet, SigmoidBeliefNet
from vaekit.testing import assert_gradient_unbiased, exact_iwae, exact_log_marginal

D, H = 3, 2


class UserEncoder(InfNet):
    """A user's q(z|x): only the three abstract methods, written by hand (no torch.distributions)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(D, H)

    def forward(self, x):
        self.params_ = {"logits": self.lin(x)}
        return self

    def sample(self, n_samples):
        probs = torch.sigmoid(self.params_["logits"]).detach().unsqueeze(1)  # [B, 1, H]
        return torch.bernoulli(probs.expand(-1, n_samples, -1))  # [B, K, H]

    def log_prob(self, z):
        logits = self.params_["logits"].unsqueeze(1)  # [B, 1, H]
        return (z * F.logsigmoid(logits) + (1 - z) * F.logsigmoid(-logits)).sum(-1)  # [B, K]


class UserSBN(GenModel):
    """A user's p(x, z): a sigmoid belief net with only the three abstract methods."""

    def __init__(self):
        super().__init__()
        self.prior_logits = torch.nn.Parameter(torch.randn(H))
        self.lin = torch.nn.Linear(H, D)

    def forward(self, x, z):
        self.params_ = {"logits": self.lin(z)}
        return self

    def log_prob(self, x, z):
        prior = (z * F.logsigmoid(self.prior_logits) + (1 - z) * F.logsigmoid(-self.prior_logits)).sum(-1)
        logits = self.lin(z)  # [B, K, D]
        x = x.unsqueeze(1)  # [B, 1, D]
        return prior + (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(-1)  # [B, K]

    def sample(self, n):
        z = torch.bernoulli(torch.sigmoid(self.prior_logits).expand(n, -1))  # [n, H]
        return torch.bernoulli(torch.sigmoid(self.lin(z))), z


def test_abstract_methods_are_exactly_forward_sample_log_prob():
    assert InfNet.__abstractmethods__ == frozenset({"forward", "sample", "log_prob"})
    assert GenModel.__abstractmethods__ == frozenset({"forward", "sample", "log_prob"})
    assert InfNet.has_rsample is False
    with pytest.raises(TypeError):
        InfNet()
    assert isinstance(UserEncoder(), torch.nn.Module) and isinstance(UserSBN(), torch.nn.Module)


SCORE_CASES = [c for c in map(as_case, LOSS_CASES) if not c.needs_rsample]


@pytest.mark.parametrize("case", SCORE_CASES, ids=[c.name for c in SCORE_CASES])
def test_a_user_subclass_with_only_the_abstract_methods_works_with_every_score_function_loss(case):
    q, p = UserEncoder().double(), UserSBN().double()
    x = torch.bernoulli(torch.full((4, D), 0.5, dtype=torch.float64))
    loss_fn = case.factory(q, p)
    loss = loss_fn(x)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert all(w.grad is not None and torch.isfinite(w.grad).all() for w in list(q.parameters()) + list(p.parameters()))


def test_user_models_are_exactly_enumerable_and_vimco_is_unbiased_on_them():
    q, p = UserEncoder().double(), UserSBN().double()
    x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    # The same model through the distribution-backed SigmoidBeliefNet gives the same log p(x).
    ref = SigmoidBeliefNet(H, D).double()
    with torch.no_grad():
        ref.prior_logits.copy_(p.prior_logits)
        ref.net.weight.copy_(p.lin.weight)
        ref.net.bias.copy_(p.lin.bias)
    assert torch.allclose(exact_log_marginal(p, x, latent_shape=(H,)), exact_log_marginal(ref, x), atol=1e-12)
    assert_gradient_unbiased(
        VIMCO(q, p, n_samples=3),
        x,
        lambda: exact_iwae(q, p, x, 3, latent_shape=(H,)),
        n_draws=300,
        replicas=50,
        failure_rate=1e-4,
        name="VIMCO on user models",
    )


class NormalEnc(DistributionInfNet):
    def __init__(self, event=(H,)):
        super().__init__()
        self.event = event
        self.lin = torch.nn.Linear(D, 2 * int(torch.tensor(event).prod()))

    def distribution(self, x) -> Normal:
        mu, log_s = self.lin(x).chunk(2, dim=-1)
        return Normal(mu.reshape(-1, *self.event), log_s.exp().reshape(-1, *self.event))


class BernEnc(DistributionInfNet):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(D, H)

    def distribution(self, x) -> Bernoulli:
        return Bernoulli(logits=self.lin(x))


class UnannotatedEnc(NormalEnc):
    def distribution(self, x):
        return super().distribution(x)


def test_distribution_inf_net_derives_sampling_and_log_prob():
    q = NormalEnc()
    x = torch.randn(4, D)
    assert q(x) is q and set(q.params_) == {"loc", "scale"} and q.params_["loc"].shape == (4, H)
    z = q.rsample(5)
    assert z.shape == (4, 5, H) and z.requires_grad
    s = q.sample(5)
    assert s.shape == (4, 5, H) and not s.requires_grad
    mu, sd = q.params_["loc"].unsqueeze(1), q.params_["scale"].unsqueeze(1)  # [B, 1, H]
    manual = (-0.5 * ((z - mu) / sd) ** 2 - sd.log() - 0.5 * torch.log(torch.tensor(2 * torch.pi))).sum(-1)
    assert torch.allclose(q.log_prob(z), manual, atol=1e-5) and q.log_prob(z).shape == (4, 5)


def test_distribution_inf_net_with_matrix_shaped_latents():
    q = NormalEnc(event=(2, 3))
    z = q(torch.randn(4, D)).sample(6)
    assert z.shape == (4, 6, 2, 3) and q.log_prob(z).shape == (4, 6)


def test_has_rsample_follows_the_family():
    assert NormalEnc().has_rsample is True  # from the return annotation, before any call
    assert BernEnc().has_rsample is False
    assert UnannotatedEnc().has_rsample is True  # unknown until the first call
    q = BernEnc()
    q(torch.zeros(2, D))
    assert q.has_rsample is False
    with pytest.raises(NotImplementedError, match="BernEnc has no reparameterised sampler"):
        q.rsample(2)
    n = NormalEnc()
    n.allow_rsample = False
    n(torch.zeros(2, D))
    assert n.has_rsample is False
    with pytest.raises(NotImplementedError):
        n.rsample(2)


def test_distribution_inf_net_errors():
    with pytest.raises(RuntimeError, match="call NormalEnc\\(x\\) before"):
        NormalEnc().sample(2)

    class Scalar(DistributionInfNet):
        def distribution(self, x) -> Distribution:
            return Normal(torch.tensor(0.0), torch.tensor(1.0))

    with pytest.raises(ValueError, match="Scalar.distribution returned a distribution with batch_shape \\(\\)"):
        Scalar()(torch.zeros(2, D))


class GaussBern(DistributionGenModel):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(H, D)

    def prior(self):
        return Normal(torch.zeros(H), torch.ones(H))

    def likelihood(self, z):
        return Bernoulli(logits=self.lin(z))


def test_distribution_gen_model_derives_log_prob_and_sample():
    p = GaussBern()
    x = torch.bernoulli(torch.full((4, D), 0.5))
    z = torch.randn(4, 5, H)
    assert p(x, z) is p and set(p.params_) == {"prior_loc", "prior_scale", "logits"}
    got = p.log_prob(x, z)
    manual = Normal(0.0, 1.0).log_prob(z).sum(-1) + Bernoulli(logits=p.lin(z)).log_prob(x.unsqueeze(1)).sum(-1)
    assert got.shape == (4, 5) and torch.allclose(got, manual, atol=1e-6)
    assert torch.allclose(p.log_prob(x, z.clone()), got)  # without the forward cache: same value
    xs, zs = p.sample(7)
    assert xs.shape == (7, D) and zs.shape == (7, H) and set(xs.unique().tolist()) <= {0.0, 1.0}
