"""Every error path of the Loss contract: wrong-shape model outputs (for every loss in LOSS_CASES),
impossible configurations, non-finite log-weights, the rsample default, and bad x / target."""

from __future__ import annotations

import math

import pytest
import torch

from losses.loss_cases import DRAWS_OWN_NOISE, LOSS_CASES, as_case, make_models
from vaekit import (
    ELBO,
    IWAE,
    RWS,
    VIMCO,
    GaussianEncoder,
    GenModel,
    InfNet,
    SigmoidBeliefNet,
    WakeSleep,
)
from vaekit.latents import BernoulliDecoder
from vaekit.testing import linear_gaussian, tiny_sbn

CASES = [as_case(c) for c in LOSS_CASES]
ids = [c.name for c in CASES]
B, D, H = 7, 4, 2  # B differs from every K in LOSS_CASES, so a transposed [K, B] is a wrong shape


class BrokenInfNet(InfNet):
    """Delegates to a real InfNet, then mangles the output of one method."""

    def __init__(self, base, method, mangle):
        super().__init__()
        self.base, self.method, self.mangle = base, method, mangle
        self.has_rsample = base.has_rsample

    def _out(self, name, value):
        return self.mangle(value) if name == self.method else value

    def forward(self, x):
        self.base(x)
        self.params_ = self.base.params_
        return self

    def sample(self, n_samples):
        return self._out("sample", self.base.sample(n_samples))

    def rsample(self, n_samples):
        return self._out("rsample", self.base.rsample(n_samples))

    def log_prob(self, z):
        return self._out("log_prob", self.base.log_prob(z))

    def log_prob_detached(self, z):
        return self._out("log_prob", self.base.log_prob_detached(z))


class BrokenGenModel(GenModel):
    """Delegates to a real GenModel, then mangles the output of log_prob."""

    def __init__(self, base, mangle):
        super().__init__()
        self.base, self.mangle = base, mangle

    def forward(self, x, z):
        self.base(x, z)
        self.params_ = self.base.params_
        return self

    def log_prob(self, x, z):
        return self.mangle(self.base.log_prob(x, z))

    def sample(self, n):
        return self.base.sample(n)


def _models(case):
    return make_models(case.needs_rsample, data_dim=D, latent_dim=H)


def _x():
    return torch.bernoulli(torch.full((B, D), 0.5, dtype=torch.float64))


_EXTRA_K = lambda t: torch.cat([t, t[:, :1]], dim=1)  # noqa: E731  [B, K+1, ...]
_UNSUMMED = lambda t: t.unsqueeze(-1).expand(*t.shape, 2)  # noqa: E731  [B, K, 2]: forgot to sum the event
_FLAT = lambda t: t.reshape(-1)  # noqa: E731  [B*K]
_FLOAT = lambda t: 0.5  # noqa: E731  not a tensor


@pytest.mark.parametrize(
    "mangle,what",
    [(_EXTRA_K, "shape"), (_UNSUMMED, "shape"), (_FLAT, "shape"), (_FLOAT, "float")],
    ids=["extra-K", "unsummed", "flat", "float"],
)
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_wrong_inf_net_log_prob_raises_naming_module_method_and_shapes(case, mangle, what):
    q, p = _models(case)
    loss_fn = case.factory(BrokenInfNet(q, "log_prob", mangle), p)
    with pytest.raises(ValueError) as err:
        loss_fn(_x())
    msg = str(err.value)
    assert "BrokenInfNet.log_prob" in msg and "expected" in msg and what in msg
    if what == "shape":
        assert f"({B}, {loss_fn.n_samples})" in msg  # the expected [B, K]


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_wrong_sample_shape_raises_naming_the_sampler(case):
    if case.name in DRAWS_OWN_NOISE:
        pytest.skip("draws its own noise from q's logits; never calls sample")
    q, p = _models(case)
    method = "rsample" if case.needs_rsample else "sample"
    loss_fn = case.factory(BrokenInfNet(q, method, _EXTRA_K), p)
    with pytest.raises(ValueError) as err:
        loss_fn(_x())
    msg = str(err.value)
    assert f"BrokenInfNet.{method}" in msg and "expected" in msg and f"({B}, {loss_fn.n_samples + 1}," in msg


@pytest.mark.parametrize("mangle", [_UNSUMMED, _FLAT, lambda t: t.T], ids=["unsummed", "flat", "transposed"])
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_wrong_gen_model_log_prob_raises_naming_module_method_and_shapes(case, mangle):
    q, p = _models(case)
    loss_fn = case.factory(q, BrokenGenModel(p, mangle))
    with pytest.raises(ValueError) as err:
        loss_fn(_x())
    msg = str(err.value)
    assert "BrokenGenModel.log_prob" in msg and f"expected shape [B, K] = ({B}, {loss_fn.n_samples})" in msg


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_nan_or_plus_inf_log_p_raises_naming_the_generative_model(case, bad):
    q, p = _models(case)
    poison = lambda t: torch.where(torch.arange(t.shape[1]) == 0, torch.full_like(t, bad), t)  # noqa: E731
    loss_fn = case.factory(q, BrokenGenModel(p, poison))
    with pytest.raises(FloatingPointError, match="BrokenGenModel.log_prob returned NaN or \\+inf"):
        loss_fn(_x())


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_non_finite_log_q_raises_naming_the_inference_network(case, bad):
    q, p = _models(case)
    poison = lambda t: t + torch.where(torch.arange(t.shape[1]) == 0, bad, 0.0)  # noqa: E731
    loss_fn = case.factory(BrokenInfNet(q, "log_prob", poison), p)
    with pytest.raises(FloatingPointError, match="BrokenInfNet.log_prob returned a non-finite"):
        loss_fn(_x())


@pytest.mark.parametrize("loss_cls", [ELBO, IWAE, VIMCO])
def test_check_finite_false_skips_the_check(loss_cls):
    q, p, x = linear_gaussian(2, 2, batch=3) if loss_cls is ELBO else tiny_sbn(4, 2, batch=3)
    nan_first = lambda t: torch.where(torch.arange(t.shape[1]) == 0, torch.full_like(t, math.nan), t)  # noqa: E731
    loss_fn = loss_cls(q, BrokenGenModel(p, nan_first), n_samples=2, check_finite=False)
    assert torch.isnan(loss_fn(x))  # computed, not raised: the user asked for no check


def test_minus_inf_log_p_is_allowed():
    """An impossible latent (p(x, z) = 0) has weight 0; IWAE and VIMCO stay finite with K >= 2."""
    q, p, x = tiny_sbn(4, 2, batch=3)
    first_impossible = lambda t: torch.where(torch.arange(t.shape[1]) == 0, -math.inf, t)  # noqa: E731
    for loss_fn in (
        IWAE(q, BrokenGenModel(p, first_impossible), n_samples=3),
        VIMCO(q, BrokenGenModel(p, first_impossible), n_samples=3),
    ):
        loss = loss_fn(x)
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(w.grad).all() for w in list(q.parameters()) + list(p.parameters()))
        q.zero_grad(), p.zero_grad()


@pytest.mark.parametrize("k", [0, -1])
@pytest.mark.parametrize("loss_cls", [ELBO, IWAE, VIMCO])
def test_invalid_n_samples_raises(loss_cls, k):
    q, p, _ = linear_gaussian()
    with pytest.raises(ValueError, match=f"{loss_cls.__name__}: n_samples must be an int >= {loss_cls.min_samples}"):
        loss_cls(q, p, n_samples=k)


@pytest.mark.parametrize("k", [1.5, True, "2"])
@pytest.mark.parametrize("loss_cls", [ELBO, IWAE, VIMCO])
def test_n_samples_of_the_wrong_type_raises_type_error(loss_cls, k):
    q, p, _ = linear_gaussian()
    with pytest.raises(TypeError, match=f"{loss_cls.__name__}: n_samples must be an int; got {type(k).__name__}"):
        loss_cls(q, p, n_samples=k)


def test_vimco_with_one_sample_is_rejected_at_construction():
    q, p, _ = tiny_sbn()
    with pytest.raises(ValueError, match="int >= 2; got 1"):
        VIMCO(q, p, n_samples=1)


def test_pathwise_without_rsample_is_rejected_at_construction():
    q, p, _ = tiny_sbn()
    with pytest.raises(ValueError, match="IWAE\\(pathwise=True\\) needs a reparameterisable"):
        IWAE(q, p, pathwise=True)
    gq = GaussianEncoder(3, 2, rsample=False)
    with pytest.raises(ValueError, match="GaussianEncoder.has_rsample is False"):
        IWAE(gq, BernoulliDecoder(2, 3), pathwise=True)
    for inf_net in (q, gq):  # ELBO is pathwise only
        with pytest.raises(ValueError, match="ELBO is the pathwise ELBO.*has_rsample is False; use Reinforce"):
            ELBO(inf_net, BernoulliDecoder(2, 3))


def test_rsample_default_raises_not_implemented_with_a_clear_message():
    class Plain(InfNet):
        def forward(self, x):
            self.params_ = {"logits": x}
            return self

        def sample(self, n_samples):
            return torch.zeros(2, n_samples, 1)

        def log_prob(self, z):
            return torch.zeros(z.shape[:2])

    q = Plain()
    assert q.has_rsample is False
    with pytest.raises(NotImplementedError, match="Plain has no reparameterised sampler.*score-function"):
        q.rsample(3)
    g = GaussianEncoder(3, 2, rsample=False)
    g(torch.zeros(2, 3))
    with pytest.raises(NotImplementedError, match="GaussianEncoder has no reparameterised sampler"):
        g.rsample(3)


@pytest.mark.parametrize("bad_x", [[[0.0, 1.0]], None], ids=["list", "None"])
def test_x_of_the_wrong_type_raises_type_error(bad_x):
    loss_fn = IWAE(*tiny_sbn()[:2])
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        loss_fn(bad_x)


def test_zero_dimensional_x_raises():
    with pytest.raises(ValueError, match="x must be a non-empty batch"):
        IWAE(*tiny_sbn()[:2])(torch.tensor(1.0))


@pytest.mark.parametrize("bad_target", [torch.zeros(5, 3), torch.tensor(0.0)], ids=["batch-mismatch", "0-d"])
def test_bad_target_raises(bad_target):
    q, p, x = tiny_sbn()
    with pytest.raises(ValueError, match="target must be a tensor with the batch size of x"):
        IWAE(q, p)(x, target=bad_target)


def test_target_of_the_wrong_type_raises_type_error():
    q, p, x = tiny_sbn()
    with pytest.raises(TypeError, match="target must be a torch.Tensor"):
        IWAE(q, p)(x, target=[[0.0] * 3] * 2)


def test_models_of_the_wrong_type_are_rejected():
    q, p, _ = tiny_sbn()
    with pytest.raises(TypeError, match="inf_net must be a vaekit.InfNet"):
        ELBO(torch.nn.Linear(3, 2), p)
    with pytest.raises(TypeError, match="gen_model must be a vaekit.GenModel"):
        IWAE(q, q)


class _AllOnes(InfNet):
    """q(z|x) = a point mass on z = 1: its own draws have log q = 0, any z with a 0 has -inf."""

    def __init__(self, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        self.params_ = {"x": x}
        return self

    def sample(self, n_samples):
        x = self.params_["x"]
        return x.new_ones(x.shape[0], n_samples, self.latent_dim)

    def log_prob(self, z):
        ones = (z == 1).all(dim=-1)  # [B, K]
        return torch.where(ones, self.scale * 0.0, torch.full_like(self.scale, -math.inf))


@pytest.mark.parametrize(
    "make",
    [
        lambda q, p, **kw: WakeSleep(q, p, n_samples=2, **kw),
        lambda q, p, **kw: RWS(q, p, n_samples=2, wake_weight=0.5, **kw),
    ],
    ids=["WakeSleep", "RWS-wake_weight"],
)
def test_sleep_phase_non_finite_log_q_names_the_inference_network(make):
    """q's own draws score finitely, but dreams from the prior (each z_h = 0 with probability 1/2)
    get log q = -inf: the loss must say so (in the same check as the wake log-weights), and
    check_finite=False must skip the check."""
    torch.manual_seed(0)
    q, p = _AllOnes(3), SigmoidBeliefNet(3, 4)
    x = torch.bernoulli(torch.full((6, 4), 0.5))
    with pytest.raises(FloatingPointError, match=r"_AllOnes.log_prob .*sleep phase"):
        make(q, p)(x)
    assert not torch.isfinite(make(q, p, check_finite=False)(x))  # unchecked: the -inf reaches the loss
