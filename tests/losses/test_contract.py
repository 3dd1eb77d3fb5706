"""The Loss contract, checked for every case in LOSS_CASES (and that every exported loss has a case).

Scalar finite output; value == -mean bound from log_p_/log_q_ where the case gives the bound;
dtype and device follow the input; every parameter of both models gets a finite gradient;
loss_history_; log_p_/log_q_ shapes; target= support; state_dict round-trip; finite loss and
gradients with log-weights of magnitude 1e4 in float32.
"""

from __future__ import annotations

import pytest
import torch

import vaekit
from losses.loss_cases import LOSS_CASES, D, as_case, make_models
from vaekit import BernoulliDecoder, GenModel, Loss, SigmoidBeliefNet
from vaekit.testing import assert_loss_matches_reference

CASES = [as_case(c) for c in LOSS_CASES]
B, T = 3, 3  # batch, target width (!= D on purpose)


def _models(case, **kw):
    return make_models(case.needs_rsample, **kw)


def _data(width=D, dtype=torch.float64, device="cpu"):
    return torch.bernoulli(torch.full((B, width), 0.5, dtype=dtype, device=device))


ids = [c.name for c in CASES]


def test_case_names_are_unique():
    assert len(set(ids)) == len(ids), ids


def test_every_exported_loss_has_a_case():
    built = set()
    for case in CASES:
        built.add(type(case.factory(*_models(case))))
    exported = {getattr(vaekit, n) for n in vaekit.__all__}
    losses = {o for o in exported if isinstance(o, type) and issubclass(o, Loss) and o is not Loss}
    missing = sorted(c.__name__ for c in losses - built)
    assert not missing, f"add these to tests/losses/loss_cases.py LOSS_CASES: {missing}"
    assert {vaekit.ELBO, vaekit.IWAE, vaekit.VIMCO} <= losses


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_scalar_finite_value_dtype_and_stored_log_weights(case, dtype):
    q, p = _models(case, dtype=dtype)
    loss_fn = case.factory(q, p)
    assert isinstance(loss_fn, Loss) and isinstance(loss_fn, torch.nn.Module)
    owned = {id(w) for w in loss_fn.parameters()}
    assert all(id(w) in owned for w in list(q.parameters()) + list(p.parameters()))
    x = _data(dtype=dtype)
    loss = loss_fn(x)
    assert loss.dim() == 0 and loss.dtype == dtype and torch.isfinite(loss)
    k = loss_fn.n_samples
    for stored in (loss_fn.log_p_, loss_fn.log_q_):
        assert stored.shape == (B, k) and stored.dtype == dtype and not stored.requires_grad
    if case.bound is not None:
        expected = -case.bound(loss_fn.log_p_, loss_fn.log_q_).mean()
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        assert loss.item() == pytest.approx(expected.item(), rel=tol, abs=tol)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_every_parameter_of_both_models_gets_a_finite_gradient(case):
    q, p = _models(case)
    loss_fn = case.factory(q, p)
    loss_fn(_data()).backward()
    for name, model in (("inf_net", q), ("gen_model", p)):
        grads = [w.grad for w in model.parameters()]
        assert all(g is not None for g in grads), f"{name}: a parameter got no gradient"
        assert all(torch.isfinite(g).all() for g in grads), f"{name}: non-finite gradient"
        assert any(g.abs().sum() > 0 for g in grads), f"{name}: all gradients are zero"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_loss_history_has_one_float_per_call(case):
    loss_fn = case.factory(*_models(case))
    x = _data()
    values = [loss_fn(x).item() for _ in range(3)]
    assert loss_fn.loss_history_ == pytest.approx(values, rel=1e-12)
    assert all(isinstance(v, float) for v in loss_fn.loss_history_)
    loss_fn(x)
    assert len(loss_fn.loss_history_) == 4


_DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", _DEVICES)
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_device_follows_the_input(case, device):
    q, p = _models(case)
    loss_fn = case.factory(q, p).to(device)
    loss = loss_fn(_data(device=device))
    loss.backward()
    assert loss.device.type == device and loss_fn.log_p_.device.type == device
    assert all(w.grad.device.type == device for w in q.parameters())


def _recording(base):
    class Recording(base):
        """Records the data passed to log_prob, to check which tensor the loss scores."""

        def log_prob(self, x, z):
            self.seen.append(x)
            return super().log_prob(x, z)

    return Recording


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_target_is_scored_by_the_generative_model(case):
    gen_cls = _recording(BernoulliDecoder if case.needs_rsample else SigmoidBeliefNet)
    q, p = _models(case, out_dim=T, gen_cls=gen_cls)
    p.seen = []
    loss_fn = case.factory(q, p)
    x, y = _data(D), _data(T)
    if not case.supports_target:
        with pytest.raises(ValueError):
            loss_fn(x, target=y)
        return
    loss = loss_fn(x, target=y)
    loss.backward()
    assert torch.isfinite(loss)
    assert p.seen and all(s.shape[-1] == T for s in p.seen)
    assert any(s is y or torch.equal(s, y) for s in p.seen)
    if case.bound is not None:
        assert loss.item() == pytest.approx(-case.bound(loss_fn.log_p_, loss_fn.log_q_).mean().item(), rel=1e-12)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_state_dict_round_trip(case):
    x = _data()
    loss_fn = case.factory(*_models(case))
    if case.stateful:
        loss_fn(x)  # let the loss build or update its state first
    state = {k: v.clone() for k, v in loss_fn.state_dict().items()}
    torch.manual_seed(1)
    other = case.factory(*_models(case))  # different random parameters
    other.load_state_dict(state)
    for k, v in other.state_dict().items():
        assert torch.equal(v, state[k]), k
    torch.manual_seed(7)
    a = loss_fn(x)
    torch.manual_seed(7)
    b = other(x)
    assert a.item() == b.item()


class _Amplified(GenModel):
    """Wraps a GenModel: log p' = 1000 * log p - 1e4, so log-weights are of magnitude 1e4."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def forward(self, x, z):
        self.base(x, z)
        self.params_ = self.base.params_
        return self

    def log_prob(self, x, z):
        return 1000.0 * self.base.log_prob(x, z) - 1e4

    def sample(self, n):
        return self.base.sample(n)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_log_weights_of_magnitude_1e4_give_finite_loss_and_gradients_in_float32(case):
    q, p = _models(case, dtype=torch.float32)
    amplified = _Amplified(p)
    loss_fn = case.factory(q, amplified)
    loss = loss_fn(_data(dtype=torch.float32))
    assert loss_fn.log_p_.abs().min() > 5e3  # the premise: log-weights really are that large
    loss.backward()
    assert torch.isfinite(loss)
    for w in list(q.parameters()) + list(p.parameters()):
        assert w.grad is not None and torch.isfinite(w.grad).all()


def test_every_case_has_a_replayed_reference():
    missing = [c.name for c in CASES if c.reference is None]
    assert not missing, f"give these cases a reference in tests/losses/loss_cases.py: {missing}"


@pytest.mark.parametrize("case", [c for c in CASES if c.reference is not None], ids=lambda c: c.name)
def test_module_matches_its_loop_reference_on_replayed_draws(case):
    """Value and every parameter gradient of the module == those of its float64 loop reference on
    the same draws, for a fresh loss and again after one call (running baselines then hold state)."""
    loss_fn = case.build()
    x = torch.bernoulli(torch.full((B, D), 0.5, dtype=torch.float64))
    assert_loss_matches_reference(loss_fn, x, case.reference, seed=3)
    loss_fn(x)
    assert_loss_matches_reference(loss_fn, x, case.reference, seed=4)
