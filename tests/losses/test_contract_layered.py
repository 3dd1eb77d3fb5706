"""The Loss contract for EVERY case in LOSS_CASES, on models with three stochastic layers.

Layered sigmoid belief nets (score-function cases) and layered Gaussian VAEs (cases that need
rsample), latents ``[B, K, H_1 + H_2 + H_3]``: scalar finite value in the input's dtype,
value == -bound of the stored log-weights, finite non-zero gradients for both models, the target
scored by the generative model, and float32 stability with log-weights of magnitude 1e4.
"""

from __future__ import annotations

import pytest
import torch

from vaekit import (
    GenModel,
    LayeredBernoulliEncoder,
    LayeredGaussianDecoder,
    LayeredGaussianEncoder,
    LayeredSigmoidBeliefNet,
)

from .loss_cases import LOSS_CASES, as_case

# Cases that read inf_net.params_["logits"] (factorised discrete q's) do not apply to layered q's.
CASES = [c for c in (as_case(c) for c in LOSS_CASES) if not c.needs_logits]
ids = [c.name for c in CASES]
B, D, T = 3, 5, 4  # batch, x width, target width
SIZES = (3, 2, 2)


def _models(case, *, dtype=torch.float64, out_dim=D, gen_cls=None):
    if case.needs_rsample:
        q, p = LayeredGaussianEncoder(D, SIZES, hidden=4), (gen_cls or LayeredGaussianDecoder)(SIZES, out_dim, hidden=4)
    else:
        q, p = LayeredBernoulliEncoder(D, SIZES), (gen_cls or LayeredSigmoidBeliefNet)(SIZES, out_dim)
    return q.to(dtype), p.to(dtype)


def _data(width=D, dtype=torch.float64):
    return torch.bernoulli(torch.full((B, width), 0.5, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_value_gradients_and_stored_log_weights_on_a_three_layer_model(case, dtype):
    q, p = _models(case, dtype=dtype)
    loss_fn = case.factory(q, p)
    loss = loss_fn(_data(dtype=dtype))
    assert loss.dim() == 0 and loss.dtype == dtype and torch.isfinite(loss)
    k = loss_fn.n_samples
    assert loss_fn.log_p_.shape == (B, k) and loss_fn.log_q_.shape == (B, k)
    if case.bound is not None:
        expected = -case.bound(loss_fn.log_p_, loss_fn.log_q_).mean()
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        assert loss.item() == pytest.approx(expected.item(), rel=tol, abs=tol)
    loss.backward()
    for name, model in (("inf_net", q), ("gen_model", p)):
        grads = [w.grad for w in model.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), f"{name}: missing or non-finite gradient"
        # every layer's conditional (not only the first) receives a gradient
        nets = model.nets if name == "inf_net" else list(model.latent_nets) + [model.data_net]
        for i, net in enumerate(nets):
            assert any(w.grad.abs().sum() > 0 for w in net.parameters()), f"{name}: layer {i} got a zero gradient"


class _Recording(LayeredSigmoidBeliefNet):
    def log_prob(self, x, z):
        self.seen.append(x)
        return super().log_prob(x, z)


class _RecordingGauss(LayeredGaussianDecoder):
    def log_prob(self, x, z):
        self.seen.append(x)
        return super().log_prob(x, z)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_target_is_scored_by_the_layered_generative_model(case):
    q, p = _models(case, out_dim=T, gen_cls=_RecordingGauss if case.needs_rsample else _Recording)
    p.seen = []
    loss_fn = case.factory(q, p)
    x, y = _data(D), _data(T)
    if not case.supports_target:
        with pytest.raises(ValueError):
            loss_fn(x, target=y)
        return
    loss = loss_fn(x, target=y)
    loss.backward()
    assert torch.isfinite(loss) and p.seen and all(s.shape[-1] == T for s in p.seen)


class _Amplified(GenModel):
    """log p' = 1000 * log p - 1e4: log-weights of magnitude 1e4."""

    def __init__(self, base):
        super().__init__()
        self.base = base
        self.layer_sizes = base.layer_sizes

    def forward(self, x, z):
        self.base(x, z)
        self.params_ = self.base.params_
        return self

    def log_prob(self, x, z):
        return 1000.0 * self.base.log_prob(x, z) - 1e4

    def log_prob_layers(self, x, z):  # the same scaling, term by term (for per-layer estimators)
        terms = 1000.0 * self.base.log_prob_layers(x, z)
        return torch.cat([terms[..., :1] - 1e4, terms[..., 1:]], dim=-1)

    def sample(self, n):
        return self.base.sample(n)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_large_log_weights_stay_finite_in_float32_on_a_three_layer_model(case):
    q, p = _models(case, dtype=torch.float32)
    loss_fn = case.factory(q, _Amplified(p))
    loss = loss_fn(_data(dtype=torch.float32))
    assert loss_fn.log_p_.abs().min() > 5e3
    loss.backward()
    assert torch.isfinite(loss)
    assert all(w.grad is not None and torch.isfinite(w.grad).all() for w in list(q.parameters()) + list(p.parameters()))
