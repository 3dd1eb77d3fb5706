"""The one loss pipeline: the deferred finiteness check (no host sync per step, bounded pending
values, the model and phase named), -inf log-probabilities, the target's event shape, the
log_prob_detached check of STL/DReG, and the common input mistakes a user makes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor
from torch.distributions import Normal

from losses.loss_cases import LOSS_CASES, as_case, make_models
from vaekit import (
    IWAE,
    RWS,
    STL,
    VIMCO,
    BernoulliDecoder,
    BernoulliEncoder,
    DistributionGenModel,
    DistributionInfNet,
    DReG,
    GaussianEncoder,
    GenModel,
    InfNet,
    Reinforce,
    SigmoidBeliefNet,
    WakeSleep,
)

CASES = [as_case(c) for c in LOSS_CASES]
ids = [c.name for c in CASES]
B, D = 5, 4


def _x(dtype=torch.float64, b=B, d=D):
    return torch.bernoulli(torch.full((b, d), 0.5, dtype=dtype))


class _Poisoned(GenModel):
    """Delegates to a real GenModel; from call ``start`` on, sample 0 of every row gets ``value``."""

    def __init__(self, base, value, start=1):
        super().__init__()
        self.base, self.value, self.start, self.calls = base, value, start, 0

    def forward(self, x, z):
        self.base(x, z)
        self.params_ = self.base.params_
        return self

    def log_prob(self, x, z):
        out = self.base.log_prob(x, z)  # [B, K]
        self.calls += 1
        if self.calls < self.start:
            return out
        return torch.where(torch.arange(out.shape[1]) == 0, torch.full_like(out, self.value), out)

    def sample(self, n):
        return self.base.sample(n)


# -- the deferred check ---------------------------------------------------------------------------
def test_the_check_is_deferred_to_the_sync_interval_and_names_the_call_and_model():
    q, p = make_models(False)
    poisoned = _Poisoned(p, math.nan, start=3)  # calls 1-2 fine, call 3 poisoned (one log_prob per call)
    loss_fn = VIMCO(q, poisoned, n_samples=3, sync_every=5)
    for _ in range(4):
        loss_fn(_x())  # no sync yet: nothing raised
    assert len(loss_fn._pending) == 4
    with pytest.raises(
        FloatingPointError, match=r"_Poisoned.log_prob returned NaN or \+inf at call 3 \(gen_model, wake"
    ):
        loss_fn(_x())  # the 5th call reads the pending values
    assert len(loss_fn.loss_history_) == 5 and loss_fn._pending == []


def test_reading_the_history_or_flush_runs_the_pending_check():
    q, p = make_models(False)
    for read in (lambda m: m.loss_history_, lambda m: m.flush()):
        loss_fn = IWAE(q, _Poisoned(p, math.inf), n_samples=2, sync_every=100)
        loss_fn(_x())
        with pytest.raises(FloatingPointError, match="at call 1"):
            read(loss_fn)


def test_pending_values_stay_bounded_without_reads():
    q, p = make_models(False)
    loss_fn = VIMCO(q, p, n_samples=3, sync_every=7)
    for _ in range(50):
        loss_fn(_x())
        assert len(loss_fn._pending) < 7  # O(1) memory per step: flushed every 7 calls
    assert len(loss_fn.loss_history_) == 50 and all(isinstance(v, float) for v in loss_fn.loss_history_)
    default = VIMCO(q, p, n_samples=3)
    for _ in range(3):
        default(_x())
        assert len(default._pending) == 0  # on the CPU a sync is free: checked every call


class _NoSync:
    """Makes every host read of a tensor value raise, to prove a step does not synchronise."""

    NAMES = ("item", "tolist", "__bool__", "__float__", "__int__")

    def __enter__(self):
        self.saved = {n: getattr(Tensor, n) for n in self.NAMES}

        def forbid(name):
            def raiser(*a, **k):
                raise AssertionError(f"host-device sync: Tensor.{name} called during a training step")

            return raiser

        for n in self.NAMES:
            setattr(Tensor, n, forbid(n))

    def __exit__(self, *exc):
        for n, f in self.saved.items():
            setattr(Tensor, n, f)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_a_training_step_reads_nothing_back_from_the_device(case):
    """With the check deferred, forward and backward of every loss read no tensor value on the host
    (the first call is outside: STL/DReG verify log_prob_detached once)."""
    q, p = make_models(case.needs_rsample)
    loss_fn = case.factory(q, p)
    loss_fn.sync_every = 1000
    x = _x()
    loss_fn(x).backward()
    with _NoSync():
        for _ in range(3):
            loss_fn(x).backward()
    assert len(loss_fn.loss_history_) == 4


@pytest.mark.parametrize("case", [c for c in CASES if c.name in ("WakeSleep", "RWS-wake_weight")], ids=lambda c: c.name)
def test_the_sleep_phase_is_stored_and_checked_with_the_wake_terms(case):
    q, p = make_models(False)
    loss_fn = case.factory(q, p)
    loss_fn(_x())
    assert loss_fn.sleep_log_q_.shape == (B,) and not loss_fn.sleep_log_q_.requires_grad


# -- -inf log p ------------------------------------------------------------------------------------
_ELBO_TYPE = {"ELBO", "Reinforce", "Reinforce+ma+loo+vn", "Reinforce+nvil", "WakeSleep", "STL"}
_ELBO_TYPE |= {
    "Enumerate",
    "ARM",
    "DisARM",
    "ARMS",
    "GumbelSoftmax",
    "GumbelSoftmax-ST",
    "GumbelRao",
    "IndeCateR",
    "REBAR",
    "RELAX",
    "CategoricalDisARM",
    "CategoricalDisARMIW",
}  # discrete estimators (issue 12); LocalDisARM is IWAE-type
_ELBO_TYPE |= {"VRScore-1", "TVO", "NVIL-layers"}  # alpha = 1; TVO's beta = 0 segment; NVIL's ELBO


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_minus_inf_log_p_gives_no_nan_and_a_finite_loss_where_the_bound_is_finite(case):
    """Sample 0 of every row is impossible (log p = -inf). IWAE-type bounds stay finite, and so must
    the loss and every gradient; ELBO-type bounds are -inf (loss +inf) with no NaN anywhere."""
    q, p = make_models(case.needs_rsample)
    loss_fn = case.factory(q, _Poisoned(p, -math.inf))
    for _ in range(2):  # the second call sees any running-baseline state the first one set
        loss_fn.zero_grad()
        loss = loss_fn(_x())
        loss.backward()
        if case.name in _ELBO_TYPE:
            assert loss.item() == math.inf
        else:
            assert torch.isfinite(loss)
        for name, w in loss_fn.named_parameters():
            assert w.grad is None or torch.isfinite(w.grad).all(), name
    for buf in loss_fn.buffers():
        assert torch.isfinite(buf).all()  # no running state turned -inf


def test_score_function_elbo_with_minus_inf_log_p_is_not_nan():
    """The score-function ELBO used to give NaN here (-inf times log q)."""
    q, p = make_models(False)
    loss = Reinforce(q, _Poisoned(p, -math.inf), n_samples=3)(_x())
    loss.backward()
    assert loss.item() == math.inf
    assert all(torch.isfinite(w.grad).all() for w in q.parameters())


# -- the target's event shape ---------------------------------------------------------------------
class _NormalDecoder(DistributionGenModel):
    def __init__(self, latent_dim, data_dim):
        super().__init__()
        self.lin = torch.nn.Linear(latent_dim, data_dim).double()

    def prior(self):
        return Normal(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))

    def likelihood(self, z):
        return Normal(self.lin(z), 1.0)


@pytest.mark.parametrize("decoder", ["bernoulli", "normal"])
def test_a_target_of_the_wrong_event_shape_raises_naming_expected_and_received(decoder):
    """A [B, 1] target against a 6-output decoder used to broadcast into a finite loss."""
    q = GaussianEncoder(3, 2).double()
    p = BernoulliDecoder(2, 6).double() if decoder == "bernoulli" else _NormalDecoder(2, 6)
    x, y = _x(d=3), torch.ones(B, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"target .*\[B, 6\].*event shape \(6,\); got \(5, 1\)"):
        IWAE(q, p, n_samples=2)(x, target=y)
    assert torch.isfinite(IWAE(q, p, n_samples=2)(x, target=_x(d=6)))


# -- log_prob_detached verified once -----------------------------------------------------------------
class _OutsideParams(DistributionInfNet):
    """A q whose log_prob reads its scale from a parameter, not from params_: the default
    log_prob_detached (detach params_) then leaves a gradient path into that parameter."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(D, 2).double()
        self.log_scale = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))

    def distribution(self, x):
        return Normal(self.lin(x), self.log_scale.exp())

    def log_prob_detached(self, z):
        saved = self.params_
        self.params_ = {k: v.detach() for k, v in saved.items()}
        try:  # what a hand-written log_prob reading self.log_scale would do
            return Normal(self.params_["loc"].unsqueeze(1), self.log_scale.exp()).log_prob(z).sum(-1)
        finally:
            self.params_ = saved


@pytest.mark.parametrize("loss_cls", [STL, DReG])
def test_stl_and_dreg_reject_a_log_prob_detached_with_a_path_to_q_parameters(loss_cls):
    p = BernoulliDecoder(2, D).double()
    with pytest.raises(ValueError, match=r"log_prob_detached\(z\) has a gradient path.*log_scale"):
        loss_cls(_OutsideParams(), p, n_samples=2)(_x())
    loss_fn = loss_cls(GaussianEncoder(D, 2).double(), p, n_samples=2)
    loss_fn(_x())
    assert loss_fn._detached_verified  # checked once, then never again


# -- common mistakes ----------------------------------------------------------------------------------
def test_integer_input_with_float_models_names_the_dtypes_and_the_fix():
    q, p = make_models(False, dtype=torch.float32)
    with pytest.raises(TypeError, match=r"x has dtype torch.int64 but the models' parameters are torch.float32.*x.to"):
        VIMCO(q, p, n_samples=2)(_x().long())


def test_float64_input_with_float32_models_names_the_dtypes_and_the_fix():
    q, p = make_models(True, dtype=torch.float32)
    with pytest.raises(TypeError, match=r"x has dtype torch.float64 but the models' parameters are torch.float32"):
        IWAE(q, p, n_samples=2)(_x(torch.float64))


def test_a_float64_target_with_float32_models_names_the_target():
    q, p = make_models(True, dtype=torch.float32)
    with pytest.raises(TypeError, match=r"target has dtype torch.float64 but the models' parameters are torch.float32"):
        IWAE(q, p, n_samples=2)(_x(torch.float32), target=_x(torch.float64))


def test_an_empty_batch_raises_value_error():
    q, p = make_models(False)
    with pytest.raises(ValueError, match=r"non-empty batch.*\(0, 4\)"):
        VIMCO(q, p, n_samples=2)(torch.zeros(0, D, dtype=torch.float64))


@pytest.mark.parametrize("kind", ["gaussian", "bernoulli"])
def test_nan_in_the_input_blames_the_input_not_a_model(kind):
    q, p = make_models(kind == "gaussian")
    x = _x()
    x[1, 2] = math.nan
    loss_fn = IWAE(q, p, n_samples=2)
    with pytest.raises(ValueError, match="input x .*contains NaN") as err:
        loss_fn(x)
    assert "GaussianEncoder" not in str(err.value) and "BernoulliDecoder" not in str(err.value)


@pytest.mark.parametrize("sync_every", [1, 3])
@pytest.mark.parametrize("what", ["x", "target"])
def test_nan_in_a_later_input_blames_that_input_read_back_at_once_or_deferred(sync_every, what):
    """Read back at once, a record holds no sums of the inputs (they are examined when the check
    fires); deferred, it does. Either way a NaN input is named, and not a model."""
    q, p = make_models(True)
    loss_fn = IWAE(q, p, n_samples=2, sync_every=sync_every)
    for _ in range(2):
        loss_fn(_x(), target=_x())
    bad = _x()
    bad[0, 1] = math.nan
    with pytest.raises(ValueError, match=f"input {what} of call 3 contains NaN") as err:
        for _ in range(sync_every):
            loss_fn(bad if what == "x" else _x(), target=bad if what == "target" else _x())
    assert "GaussianEncoder" not in str(err.value) and "BernoulliDecoder" not in str(err.value)


def test_the_dtype_check_follows_models_converted_after_the_first_call():
    q, p = make_models(True, dtype=torch.float32)
    loss_fn = IWAE(q, p, n_samples=2)
    loss_fn(_x(torch.float32))  # float32 data and models: checked once, then remembered
    q.double()  # converted on its own, not through the loss
    with pytest.raises(TypeError, match=r"x has dtype torch.float32 but the models' parameters are torch.float64"):
        loss_fn(_x(torch.float32))
    p.double()
    loss_fn(_x(torch.float64))
    assert len(loss_fn.loss_history_) == 2


class _ReturnsDistribution(InfNet):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(D, 2).double()

    def forward(self, x):
        return Normal(self.lin(x), 1.0)

    def sample(self, n):
        raise AssertionError

    def log_prob(self, z):
        raise AssertionError


class _TensorParams(GaussianEncoder):
    def forward(self, x):
        super().forward(x)
        self.params_ = self.net(x)  # a tensor, not a dict
        return self


def test_an_encoder_returning_a_distribution_raises_type_error_with_the_fix():
    with pytest.raises(
        TypeError,
        match=r"_ReturnsDistribution.forward must .*return self.*returned Normal.*"
        r"subclass DistributionInfNet",
    ):
        IWAE(_ReturnsDistribution(), SigmoidBeliefNet(2, D).double(), n_samples=2)(_x())


def test_params_set_to_a_tensor_raises_type_error():
    with pytest.raises(TypeError, match=r"_TensorParams.params_ must be a dict of tensors.*set it to Tensor"):
        IWAE(_TensorParams(D, 2).double(), BernoulliDecoder(2, D).double(), n_samples=2)(_x())


def test_check_finite_and_sync_every_are_validated():
    q, p = make_models(False)
    with pytest.raises(TypeError, match="check_finite must be a bool"):
        VIMCO(q, p, check_finite="yes")
    with pytest.raises(ValueError, match="sync_every must be None or an int >= 1"):
        VIMCO(q, p, sync_every=0)


def test_rws_and_wake_sleep_still_reject_a_separate_target_for_the_sleep_phase():
    q, p = BernoulliEncoder(D, 2).double(), SigmoidBeliefNet(2, D).double()
    for loss_fn in (WakeSleep(q, p), RWS(q, p, wake_weight=0.5)):
        with pytest.raises(ValueError, match="target == x"):
            loss_fn(_x(), target=_x())
