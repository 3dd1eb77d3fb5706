"""Discrete Loss modules on one-hot categorical latents against their float64 loop references on
replayed draws (the shared loss cases run on Bernoulli latents only), the finiteness check of
IndeCateR's extra configurations (``Loss.keep_log_weights``), and -inf log p in the pure functions."""

from __future__ import annotations

import math

import pytest
import torch

from vaekit import CategoricalDisARM, Enumerate, GenModel, IndeCateR
from vaekit.latents import uniform_noise
from vaekit.losses import (
    all_configurations,
    arm_estimate,
    arms_estimate,
    categorical_disarm_estimate,
    disarm_estimate,
    enumerate_estimate,
    indecater_estimate,
    local_disarm_estimate,
    stick_breaking_logits,
    stick_breaking_one_hot,
)
from vaekit.testing import (
    assert_loss_matches_reference,
    categorical_disarm_reference,
    enumerate_reference,
    indecater_reference,
    tiny_categorical,
    tiny_sbn,
)


def _f(m, x, z):
    return m.gen_model(x, z).log_prob(x, z) - m.inf_net.log_prob_detached(z)


def _categorical_disarm(m, x):
    logits = m.inf_net(x).params_["logits"]  # [B, V, C]
    bd = stick_breaking_logits(logits.detach())  # [B, V, C - 1]
    u = uniform_noise(bd.shape, dtype=bd.dtype)
    pair = [(u < torch.sigmoid(bd)).to(bd.dtype), (u > torch.sigmoid(-bd)).to(bd.dtype)]
    z = torch.stack([stick_breaking_one_hot(b).to(bd.dtype) for b in pair], dim=1)  # [B, 2, V, C]
    f = _f(m, x, z)
    return categorical_disarm_reference(logits, u, f[:, 0], f[:, 1], one_hot=True)


def _indecater(m, x):
    inf = m.inf_net(x)
    logits = inf.params_["logits"]  # [B, V, C]
    z = inf.sample(m.n_samples).detach()  # [B, N, V, C]
    bsz, n, v, c = z.shape
    configs = []
    for k in range(n):
        for d in range(v):
            for cl in range(c):
                zc = z[:, k].clone()
                zc[:, d] = 0.0
                zc[:, d, cl] = 1.0
                configs.append(zc)
    f = _f(m, x, torch.stack(configs, dim=1)).reshape(bsz, n, v, c)
    return indecater_reference(torch.softmax(logits, dim=-1), f, _f(m, x, z))


def _enumerate(m, x):
    logits = m.inf_net(x).params_["logits"]
    z = all_configurations(tuple(logits.shape[1:]), True, dtype=logits.dtype)
    z = z.unsqueeze(0).expand(x.shape[0], *z.shape)
    return enumerate_reference(m.gen_model(x, z).log_prob(x, z), m.inf_net.log_prob(z))


@pytest.mark.parametrize(
    "make,reference",
    [
        (lambda q, p: CategoricalDisARM(q, p), _categorical_disarm),
        (lambda q, p: IndeCateR(q, p, n_samples=2), _indecater),
        (lambda q, p: Enumerate(q, p), _enumerate),
    ],
    ids=["CategoricalDisARM", "IndeCateR", "Enumerate"],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_one_hot_module_matches_its_loop_reference_on_replayed_draws(make, reference, seed):
    q, p, x = tiny_categorical(n_vars=2, n_classes=3, batch=3, seed=seed)
    assert_loss_matches_reference(make(q, p), x, reference, seed=seed)


class _NaNOnCall(GenModel):
    """Delegates to a real GenModel; its ``call``-th log_prob returns NaN everywhere."""

    def __init__(self, base, call):
        super().__init__()
        self.base, self.call, self.calls = base, call, 0

    def forward(self, x, z):
        self.base(x, z)
        self.params_ = self.base.params_
        return self

    def log_prob(self, x, z):
        self.calls += 1
        out = self.base.log_prob(x, z)
        return out * math.nan if self.calls == self.call else out

    def sample(self, n):
        return self.base.sample(n)


def test_indecater_checks_the_configurations_it_scores_too():
    """IndeCateR scores the samples (call 1) and the configurations around them (call 2); a NaN in
    the second only is caught by the one finiteness check (keep_log_weights' more_log_p)."""
    q, p, x = tiny_sbn(4, 2, batch=3)
    with pytest.raises(FloatingPointError, match="_NaNOnCall.log_prob returned NaN or \\+inf at call 1"):
        IndeCateR(q, _NaNOnCall(p, call=2), n_samples=2)(x)
    loss_fn = IndeCateR(q, _NaNOnCall(p, call=2), n_samples=2, check_finite=False)
    loss_fn(x)  # unchecked: no error
    assert loss_fn.log_p_.shape == (3, 2)  # only the samples' log p is stored


def test_keep_log_weights_takes_more_log_p_and_more_log_q_together():
    q, p, x = tiny_sbn(4, 2, batch=3)
    loss_fn = IndeCateR(q, p)
    with pytest.raises(ValueError, match="more_log_p and more_log_q together"):
        loss_fn.keep_log_weights(torch.zeros(3, 1), torch.zeros(3, 1), more_log_p=torch.zeros(3))


def _minus_inf_first_row(t):
    t = t.clone()
    t[0] = -math.inf
    return t


@pytest.mark.parametrize(
    "name",
    ["arm", "disarm", "categorical_disarm", "arms", "local_disarm", "indecater", "enumerate"],
)
def test_minus_inf_log_p_gives_a_minus_inf_value_and_finite_gradients(name):
    """Row 0's latents are impossible: its value is -inf (or finite for the IWAE-type local DisARM,
    whose other sample is possible), row 1's is finite, and no gradient is NaN or infinite."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 3, dtype=torch.float64, generator=g).requires_grad_()
    u = torch.rand(2, 3, dtype=torch.float64, generator=g)
    f = torch.randn(2, 2, dtype=torch.float64, generator=g)
    f[0, 0] = -math.inf
    f = f.requires_grad_()
    if name == "arm":
        out = arm_estimate(a, u, f[:, 0], f[:, 1])
    elif name == "disarm":
        out = disarm_estimate(a, u, f[:, 0], f[:, 1])
    elif name == "categorical_disarm":
        out = categorical_disarm_estimate(a, u, f[:, 0], f[:, 1], one_hot=False)
    elif name == "arms":
        out = arms_estimate(a, (u.unsqueeze(1) < torch.sigmoid(a.detach()).unsqueeze(1)).double().expand(2, 2, 3), f)
    elif name == "local_disarm":
        out = local_disarm_estimate(a, u.unsqueeze(1).expand(2, 2, 3), f, f.detach().flip(-1))
    elif name == "indecater":
        probs = torch.softmax(a.reshape(2, 3, 1).expand(2, 3, 2) * torch.tensor([0.0, 1.0]), dim=-1)
        fc = f.reshape(2, 2, 1, 1).expand(2, 2, 3, 2)
        out = indecater_estimate(probs, fc, f)
    else:
        out = enumerate_estimate(f, torch.log_softmax(a[:, :2], dim=-1))
    if name == "local_disarm":
        assert torch.isfinite(out).all()
    else:
        assert out[0].item() == -math.inf and math.isfinite(out[1].item())
    grads = torch.autograd.grad(
        torch.where(torch.isfinite(out), out, 0.0).sum() + out[0] * 0, [a, f], allow_unused=True
    )
    for gr in grads:
        assert gr is None or torch.isfinite(gr).all()


def test_local_disarm_with_a_half_of_impossible_latents_is_minus_inf_without_nan():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(2, 3, dtype=torch.float64, generator=g).requires_grad_()
    u = torch.rand(2, 2, 3, dtype=torch.float64, generator=g)
    lw = torch.randn(2, 2, dtype=torch.float64, generator=g)
    lw[0] = -math.inf  # every sample of row 0's first half impossible
    lw = lw.requires_grad_()
    lwa = torch.randn(2, 2, dtype=torch.float64, generator=g).requires_grad_()
    out = local_disarm_estimate(a, u, lw, lwa)
    assert out[0].item() == -math.inf and math.isfinite(out[1].item())
    for gr in torch.autograd.grad(out[1] + 0 * out[0], [a, lw, lwa]):
        assert torch.isfinite(gr).all()
