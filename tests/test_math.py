"""vaekit._math against naive float64 formulas: values, extreme inputs and gradients."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vaekit._math import logmeanexp, loo_logsumexp, loo_mean, self_normalized_weights, with_grad


def _rand(shape, spread, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return spread * torch.randn(*shape, generator=g, dtype=dtype)


def _naive_loo_logsumexp(x):
    """Entry j: log sum_{i != j} exp(x_i), by an explicit loop over j (float64)."""
    k = x.shape[-1]
    cols = [torch.logsumexp(torch.cat([x[..., :j], x[..., j + 1 :]], dim=-1), dim=-1) for j in range(k)]
    return torch.stack(cols, dim=-1)


def _naive_loo_mean(x):
    k = x.shape[-1]
    return torch.stack([torch.cat([x[..., :j], x[..., j + 1 :]], -1).mean(-1) for j in range(k)], -1)


@settings(max_examples=20)
@given(
    k=st.integers(1, 6),
    spread=st.sampled_from([0.1, 1.0, 100.0, 1e4]),
    seed=st.integers(0, 2**16),
    dim=st.sampled_from([0, -1]),
)
def test_logmeanexp_matches_naive_and_is_stable(k, spread, seed, dim):
    x = _rand((k, 3) if dim == 0 else (3, k), spread, seed)
    got = logmeanexp(x, dim=dim)
    shift = x.max(dim=dim, keepdim=True).values  # naive but shifted so float64 can represent it
    naive = (shift + torch.log(torch.exp(x - shift).mean(dim=dim, keepdim=True))).squeeze(dim)
    assert torch.allclose(got, naive, rtol=1e-12, atol=1e-12)
    assert logmeanexp(x, dim=dim, keepdim=True).shape[dim] == 1


def test_logmeanexp_extremes_and_gradient():
    x = torch.tensor([1e4, 1e4 - 1.0, -math.inf], dtype=torch.float32, requires_grad=True)
    y = logmeanexp(x)
    assert torch.isfinite(y)
    assert y.item() == pytest.approx(1e4 + math.log((1 + math.exp(-1)) / 3), abs=2e-3)
    y.backward()
    expected = torch.tensor([1.0, math.exp(-1.0), 0.0]) / (1 + math.exp(-1.0))  # softmax weights
    assert torch.allclose(x.grad, expected, atol=1e-3)  # float32 ulp at 1e4 is 1e-3
    assert logmeanexp(torch.full((4,), -math.inf)).item() == -math.inf


@settings(max_examples=25)
@given(k=st.integers(2, 7), spread=st.sampled_from([0.1, 1.0, 50.0, 1e3]), seed=st.integers(0, 2**16))
def test_loo_logsumexp_matches_the_naive_loop_in_value_and_gradient(k, spread, seed):
    x = _rand((2, 3, k), spread, seed).requires_grad_()
    cot = _rand((2, 3, k), 1.0, seed + 1)
    got, naive = loo_logsumexp(x), _naive_loo_logsumexp(x)
    assert torch.allclose(got, naive, rtol=1e-12, atol=1e-9)
    g_got = torch.autograd.grad((cot * got).sum(), x)[0]
    g_naive = torch.autograd.grad((cot * naive).sum(), x)[0]
    assert torch.allclose(g_got, g_naive, rtol=1e-10, atol=1e-10)


def test_loo_logsumexp_is_exact_when_one_entry_dominates():
    # log(sum - exp(x_j)) would cancel to -inf or garbage here; the prefix/suffix form is exact.
    x = torch.tensor([1e4, 0.0, math.log(2.0)], dtype=torch.float32)
    got = loo_logsumexp(x)
    assert got[0].item() == pytest.approx(math.log(3.0), rel=1e-6)
    assert got[1].item() == pytest.approx(1e4, rel=1e-7) and got[2].item() == pytest.approx(1e4, rel=1e-7)
    x = torch.tensor([-math.inf, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    got = loo_logsumexp(x)
    assert got[0].item() == pytest.approx(math.log(math.e + math.e**2), rel=1e-12)
    # (Its gradient is only defined for finite inputs: VIMCO applies it to detached log-weights.)
    with pytest.raises(ValueError, match="at least 2"):
        loo_logsumexp(torch.zeros(3, 1))


@settings(max_examples=15)
@given(k=st.integers(2, 7), spread=st.sampled_from([1.0, 1e3]), seed=st.integers(0, 2**16))
def test_loo_mean_matches_naive_in_value_and_gradient(k, spread, seed):
    x = _rand((3, k), spread, seed).requires_grad_()
    cot = _rand((3, k), 1.0, seed + 1)
    got, naive = loo_mean(x), _naive_loo_mean(x)
    assert torch.allclose(got, naive, rtol=1e-12, atol=1e-9)
    assert torch.allclose(*(torch.autograd.grad((cot * v).sum(), x)[0] for v in (got, naive)), rtol=1e-12)


def test_loo_mean_with_an_infinite_or_dominant_entry():
    got = loo_mean(torch.tensor([-math.inf, 1.0, 2.0], dtype=torch.float64))
    assert got[0].item() == 1.5 and got[1].item() == -math.inf and got[2].item() == -math.inf
    got = loo_mean(torch.tensor([1e8, 1.0, 2.0], dtype=torch.float32))
    assert got[0].item() == 1.5  # (sum - x_0) / 2 would round 1e8 + 3 - 1e8 in float32
    with pytest.raises(ValueError, match="at least 2"):
        loo_mean(torch.zeros(1))


def test_with_grad_has_the_value_of_one_and_the_gradient_of_the_other():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    y = with_grad(torch.tensor([10.0, 20.0], dtype=torch.float64), (w**2).sum())
    assert y.tolist() == [10.0, 20.0]
    y.sum().backward()
    assert w.grad.tolist() == [4.0, 8.0]  # d/dw of 2 * sum(w^2): the surrogate broadcast to two entries
    v = torch.tensor(3.0, requires_grad=True)
    out = with_grad(v * 5, v * 7)
    out.backward()
    assert out.item() == 15.0 and v.grad.item() == 7.0  # value's own gradient path is cut


def test_self_normalized_weights_sum_to_one_and_are_detached():
    x = _rand((2, 5), 100.0, 0).requires_grad_()
    w = self_normalized_weights(x)
    assert not w.requires_grad and torch.allclose(w.sum(-1), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(w, torch.softmax(x.detach(), -1))


@pytest.mark.parametrize("form", ["dense", "prefix-suffix"])
@pytest.mark.parametrize("k", [2, 5, 16, 17, 40])
def test_both_leave_one_out_forms_match_the_naive_loop_with_minus_inf_entries(monkeypatch, form, k):
    """The dense [B, K, K] form (small K) and the O(K) form (above DENSE_LOO_MAX_K) are both exact,
    -inf entries included, in value and (for finite inputs) gradient."""
    import vaekit._math as m

    monkeypatch.setattr(m, "DENSE_LOO_MAX_K", 1000 if form == "dense" else 1)
    x = _rand((3, k), 30.0, k)
    x[0, 0] = -math.inf
    x[1, :] = -math.inf
    x[1, k - 1] = 2.0  # one finite entry: every other row entry leaves -inf or that entry
    torch.testing.assert_close(m.loo_logsumexp(x), _naive_loo_logsumexp(x), rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(m.loo_mean(x), _naive_loo_mean(x), rtol=1e-12, atol=1e-9)
    finite = _rand((2, k), 5.0, k + 1).requires_grad_()
    cot = _rand((2, k), 1.0, k + 2)
    for fast, naive in ((m.loo_logsumexp, _naive_loo_logsumexp), (m.loo_mean, _naive_loo_mean)):
        g_fast = torch.autograd.grad((cot * fast(finite)).sum(), finite)[0]
        g_naive = torch.autograd.grad((cot * naive(finite)).sum(), finite)[0]
        torch.testing.assert_close(g_fast, g_naive, rtol=1e-10, atol=1e-10)


def test_weighted_sum_reads_zero_times_minus_inf_as_zero_with_finite_gradient():
    from vaekit._math import weighted_sum

    values = torch.tensor([[1.0, -math.inf, 3.0]], dtype=torch.float64, requires_grad=True)
    weights = torch.tensor([[0.5, 0.0, 0.5]], dtype=torch.float64)
    out = weighted_sum(weights, values)
    assert out.item() == 2.0
    (grad,) = torch.autograd.grad(out.sum(), values)
    assert grad.tolist() == [[0.5, 0.0, 0.5]]
