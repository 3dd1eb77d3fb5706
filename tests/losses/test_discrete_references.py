"""The discrete estimators' pure functions against float64 loop references (value and gradients to 1e-10).

Each reference writes the paper's per-coordinate formula with Python loops over rows, samples and
coordinates, from scratch (no shared helper with the vectorised code).
"""

from __future__ import annotations

import math

import pytest
import torch

from vaekit.losses import (
    arm_estimate,
    arms_estimate,
    categorical_disarm_estimate,
    dirichlet_copula_uniforms,
    disarm_estimate,
    local_disarm_estimate,
    stick_breaking_logits,
)

B, H = 3, 4


def _sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _inputs(seed, n=None):
    g = torch.Generator().manual_seed(seed)
    a = 2 * torch.randn(B, H, generator=g, dtype=torch.float64)
    u = torch.rand((B, H) if n is None else (B, n, H), generator=g, dtype=torch.float64)
    return a, u, g


def _grad(fn, a, *rest):
    a = a.clone().requires_grad_()
    rest = [r.clone().requires_grad_() for r in rest]
    out = fn(a, *rest)
    grads = torch.autograd.grad(out.sum(), [a, *rest])
    return out.detach(), grads


@pytest.mark.parametrize("seed", range(4))
def test_arm_and_disarm_match_loops(seed):
    a, u, g = _inputs(seed)
    f, fa = torch.randn(B, generator=g, dtype=torch.float64), torch.randn(B, generator=g, dtype=torch.float64)
    for fn, kind in ((arm_estimate, "arm"), (disarm_estimate, "disarm")):
        value, (ga, gf, gfa) = _grad(lambda a_, f_, fa_, fn=fn: fn(a_, u, f_, fa_), a, f, fa)
        for r in range(B):
            assert value[r].item() == pytest.approx(0.5 * (f[r] + fa[r]).item(), abs=1e-12)
            assert gf[r].item() == pytest.approx(0.5) and gfa[r].item() == pytest.approx(0.5)
            for i in range(H):
                ai, ui = a[r, i].item(), u[r, i].item()
                if kind == "arm":
                    ref = (fa[r].item() - f[r].item()) * (ui - 0.5)
                else:
                    b, bt = ui < _sig(ai), ui > _sig(-ai)
                    ref = 0.5 * (f[r].item() - fa[r].item()) * (-1) ** bt * _sig(abs(ai)) if b != bt else 0.0
                assert ga[r, i].item() == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_local_disarm_matches_a_loop(n):
    a, u, g = _inputs(n, n)
    lw, lwa = (
        3 * torch.randn(B, n, generator=g, dtype=torch.float64),
        3 * torch.randn(B, n, generator=g, dtype=torch.float64),
    )
    value, (ga, glw, glwa) = _grad(lambda a_, x_, y_: local_disarm_estimate(a_, u, x_, y_), a, lw, lwa)

    def lme(xs):
        return math.log(sum(math.exp(x) for x in xs) / len(xs))

    for r in range(B):
        w, wa = lw[r].tolist(), lwa[r].tolist()
        assert value[r].item() == pytest.approx(0.5 * (lme(w) + lme(wa)), abs=1e-10)
        for k in range(n):  # value path: d/dlw_k of (lme(w) + lme(wa)) / 2 = softmax weight / 2
            assert glw[r, k].item() == pytest.approx(0.5 * math.exp(w[k]) / sum(math.exp(x) for x in w), abs=1e-10)
        for i in range(H):
            ref = 0.0
            for k in range(n):
                d = lme(w) - lme(w[:k] + [wa[k]] + w[k + 1 :])
                dt = lme(wa) - lme(wa[:k] + [w[k]] + wa[k + 1 :])
                ai, uki = a[r, i].item(), u[r, k, i].item()
                b, bt = uki < _sig(ai), uki > _sig(-ai)
                if b != bt:
                    ref += 0.25 * (d - dt) * (-1) ** bt * _sig(abs(ai))
            assert ga[r, i].item() == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("m", [2, 3, 5])
def test_arms_matches_a_loop(m):
    a, _, g = _inputs(10 + m)
    a = a.clamp(-3, 3)  # the direct formula for rho below is well conditioned here
    u = dirichlet_copula_uniforms((B, H), m, dtype=torch.float64)
    b = (u < torch.sigmoid(a).unsqueeze(1)).double()  # [B, M, H]
    f = torch.randn(B, m, generator=g, dtype=torch.float64)
    value, (ga, gf) = _grad(lambda a_, f_: arms_estimate(a_, b, f_), a, f)
    for r in range(B):
        fr = f[r].tolist()
        assert value[r].item() == pytest.approx(sum(fr) / m, abs=1e-12)
        for i in range(H):
            p = _sig(a[r, i].item())
            al = 1 - (1 - p) ** (1 / (m - 1))
            p2 = 2 * p - 1 + max(0.0, 1 - 2 * al) ** (m - 1)
            rho = (p2 - p * p) / (p * (1 - p))
            ref = sum((fr[j] - (sum(fr) - fr[j]) / (m - 1)) * (b[r, j, i].item() - p) for j in range(m))
            assert ga[r, i].item() == pytest.approx(ref / (m * (1 - rho)), rel=1e-8, abs=1e-10)


def test_categorical_disarm_matches_a_loop_through_the_stick_breaking_chain_rule():
    g = torch.Generator().manual_seed(5)
    a = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)  # [B, V, C]
    u = torch.rand(2, 3, 3, generator=g, dtype=torch.float64)
    f, fa = torch.randn(2, generator=g, dtype=torch.float64), torch.randn(2, generator=g, dtype=torch.float64)
    _, (ga,) = _grad(lambda a_: categorical_disarm_estimate(a_, u, f, fa), a)
    for r in range(2):
        for v in range(3):
            pi = torch.softmax(a[r, v], -1).tolist()
            beta = [math.log(pi[j]) - math.log(sum(pi[j + 1 :])) for j in range(3)]
            assert stick_breaking_logits(a[r, v]).tolist() == pytest.approx(beta, abs=1e-12)
            gbeta = []
            for j in range(3):
                b, bt = u[r, v, j].item() < _sig(beta[j]), u[r, v, j].item() > _sig(-beta[j])
                gbeta.append(0.5 * (f[r] - fa[r]).item() * (-1) ** bt * _sig(abs(beta[j])) if b != bt else 0.0)
            # chain rule by central differences of beta(a) in float64
            for c in range(4):
                e = 1e-6
                ap, am = a[r, v].clone(), a[r, v].clone()
                ap[c] += e
                am[c] -= e
                dbeta = (stick_breaking_logits(ap) - stick_breaking_logits(am)) / (2 * e)
                ref = sum(gbeta[j] * dbeta[j].item() for j in range(3))
                assert ga[r, v, c].item() == pytest.approx(ref, abs=1e-7)
