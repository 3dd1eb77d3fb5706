"""Exact properties of the MI bounds on random score matrices, and float64 loop references."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from vaekit import mi
from vaekit.testing import references_mi as ref


def _matrix(seed: int, n: int, scale: float, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, n, generator=g, dtype=torch.float64)).to(dtype)


def _vector(seed: int, n: int) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)


matrices = st.builds(_matrix, st.integers(0, 10_000), st.integers(3, 9), st.sampled_from([0.1, 1.0, 3.0, 10.0]))

# (name, vectorised bound, loop reference, extra inputs from (n, seed)); each bound is a function of
# the matrix (and the listed vectors) only, so permuting the pairs permutes every input alike.
BOUNDS = {
    "infonce": (mi.infonce, ref.infonce_reference, 0),
    "nwj": (mi.nwj, ref.nwj_reference, 0),
    "dv": (mi.dv, ref.dv_reference, 0),
    "js": (mi.js, ref.js_reference, 0),
    "smile": (lambda s: mi.smile(s, 1.5), lambda s: ref.smile_reference(s, 1.5), 0),
    "mine": (lambda s: mi.mine(s, torch.tensor(0.3)), lambda s: ref.mine_reference(s, math.exp(0.3)), 0),
    "tuba": (mi.tuba, ref.tuba_reference, 1),
    "alpha_tuba": (lambda s, a: mi.alpha_tuba(s, a, 0.3), lambda s, a: ref.alpha_tuba_reference(s, a, 0.3), 1),
    "alpha_tuba_0": (lambda s, a: mi.alpha_tuba(s, a, 0.0), lambda s, a: ref.alpha_tuba_reference(s, a, 0.0), 1),
    "alpha_tuba_1": (lambda s, a: mi.alpha_tuba(s, a, 1.0), lambda s, a: ref.alpha_tuba_reference(s, a, 1.0), 1),
    "flo": (mi.flo, ref.flo_reference, 1),
    "ba": (lambda s: mi.ba(s, 1.25), lambda s: ref.ba_reference(s, 1.25), 0),
    "doe": (mi.doe, ref.doe_reference, 1),
    "club": (mi.club, ref.club_reference, 0),
    "l1out": (mi.l1out, ref.l1out_reference, 0),
}


def test_every_bound_is_covered():
    names = {"infonce", "nwj", "dv", "mine", "js", "smile", "tuba", "alpha_tuba", "flo", "ba", "doe", "club", "l1out"}
    assert names == set(mi.ESTIMATOR_NAMES)
    assert names <= set(BOUNDS)


def _inputs(name, s, seed):
    extra = [_vector(seed, s.shape[0]).requires_grad_() for _ in range(BOUNDS[name][2])]
    return [s.detach().clone().requires_grad_(), *extra]


@pytest.mark.parametrize("name", list(BOUNDS))
@given(seed=st.integers(0, 10_000), n=st.integers(3, 6), scale=st.sampled_from([0.1, 1.0, 3.0]))
def test_matches_float64_loop_reference(name, seed, n, scale):
    fn, reference, _ = BOUNDS[name]
    inputs = _inputs(name, _matrix(seed, n, scale), seed)
    value = fn(*inputs)
    grads = torch.autograd.grad(value, inputs, allow_unused=True)  # alpha = 1 leaves the baseline unused
    ref_inputs = [t.detach().clone().requires_grad_() for t in inputs]
    expected = reference(*ref_inputs)
    ref_grads = torch.autograd.grad(expected, ref_inputs, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, inputs)]
    ref_grads = [torch.zeros_like(t) if g is None else g for g, t in zip(ref_grads, inputs)]
    assert value.dtype == torch.float64 and value.shape == ()
    torch.testing.assert_close(value, expected.reshape(()), rtol=1e-6, atol=1e-6)
    for g, rg in zip(grads, ref_grads):
        torch.testing.assert_close(g, rg, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(BOUNDS))
@given(seed=st.integers(0, 10_000), n=st.integers(3, 9))
def test_invariant_to_a_joint_permutation_of_the_pairs(name, seed, n):
    fn, _, n_extra = BOUNDS[name]
    s = _matrix(seed, n, 2.0)
    extra = [_vector(seed, n) for _ in range(n_extra)]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    a = fn(s, *extra)
    b = fn(s[perm][:, perm], *[v[perm] for v in extra])
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@given(s=matrices)
def test_infonce_is_at_most_log_n_on_every_batch(s):
    assert mi.infonce(s).item() <= math.log(s.shape[0]) + 1e-12


def test_infonce_reaches_log_n_for_a_perfect_critic():
    assert mi.infonce(50 * torch.eye(6, dtype=torch.float64)).item() == pytest.approx(math.log(6), abs=1e-12)


@given(s=matrices, alpha=st.sampled_from([0.01, 0.3, 1.0]))
def test_alpha_tuba_is_capped_by_one_plus_log_k_over_alpha(s, alpha):
    n = s.shape[0]
    log_a = torch.linspace(-3, 3, n, dtype=s.dtype)
    assert mi.alpha_tuba(s, log_a, alpha).item() <= 1 + math.log((n - 1) / alpha) + 1e-10


@given(s=matrices)
def test_nwj_is_at_most_dv_for_the_same_scores(s):
    # log z <= z - 1, so -log z >= 1 - z term by term.
    assert mi.nwj(s).item() <= mi.dv(s).item() + 1e-12


@given(s=matrices, seed=st.integers(0, 1000))
def test_tuba_with_zero_baseline_is_nwj_and_alpha_ends(s, seed):
    n = s.shape[0]
    zero = torch.zeros(n, dtype=s.dtype)
    torch.testing.assert_close(mi.tuba(s, zero), mi.nwj(s))
    log_a = _vector(seed, n)
    torch.testing.assert_close(mi.alpha_tuba(s, log_a, 0.0), mi.tuba(s, log_a))


@given(s=matrices)
def test_js_value_is_nwj_and_smile_with_large_tau_is_dv(s):
    torch.testing.assert_close(mi.js(s), mi.nwj(s))
    torch.testing.assert_close(mi.smile(s, tau=1e6), mi.dv(s))


@given(s=matrices)
def test_flo_is_at_most_its_infinite_negatives_infonce_term(s):
    # 1 - u - z e^-u <= -log z for every u: FLO <= mean_i [g_ii - log mean_{j != i} e^{g_ij}].
    n = s.shape[0]
    u = torch.linspace(-2, 2, n, dtype=s.dtype)
    masked = torch.where(torch.eye(n, dtype=torch.bool), torch.tensor(-math.inf, dtype=s.dtype), s)
    dv_rows = (s.diagonal() - (torch.logsumexp(masked, 1) - math.log(n - 1))).mean()
    assert mi.flo(s, u).item() <= dv_rows.item() + 1e-10
    # ... with equality at the pointwise optimum l_i = -log z_i.
    torch.testing.assert_close(mi.flo(s, s.diagonal() - (torch.logsumexp(masked, 1) - math.log(n - 1))), dv_rows)


def test_mine_module_tracks_the_moving_average_and_keeps_the_dv_value():
    s1, s2 = _matrix(1, 5, 1.0), _matrix(2, 5, 1.0)
    m = mi.MINE(ema_decay=0.5).double()
    v1 = m(s1)
    torch.testing.assert_close(v1, mi.dv(s1))
    mask = ~torch.eye(5, dtype=torch.bool)
    z1, z2 = s1.exp()[mask].mean(), s2.exp()[mask].mean()
    torch.testing.assert_close(m.log_ema.exp(), z1)
    m(s2)
    torch.testing.assert_close(m.log_ema.exp(), 0.5 * z1 + 0.5 * z2)
    m.eval()
    m(s1)
    torch.testing.assert_close(m.log_ema.exp(), 0.5 * z1 + 0.5 * z2)  # unchanged in eval mode
    assert "log_ema" in m.state_dict()


def test_bounds_keep_float32_and_return_scalars():
    s = _matrix(0, 6, 1.0, torch.float32)
    for name, (fn, _, n_extra) in BOUNDS.items():
        out = fn(s, *[torch.zeros(6) for _ in range(n_extra)])
        assert out.dtype == torch.float32 and out.shape == (), name


BAD = [
    (torch.zeros(3, 4), ValueError, "square"),
    (torch.zeros(3), ValueError, "square"),
    (torch.zeros(1, 1), ValueError, "N >= 2"),
    (torch.tensor([[0.0, math.nan], [0.0, 0.0]]), ValueError, "finite"),
    (torch.tensor([[0.0, math.inf], [0.0, 0.0]]), ValueError, "finite"),
    ([[0.0, 1.0], [1.0, 0.0]], TypeError, "torch.Tensor"),
    (torch.zeros(2, 2, dtype=torch.long), TypeError, "floating"),
]


@pytest.mark.parametrize("bad, error, match", BAD)
@pytest.mark.parametrize("name", list(BOUNDS))
def test_bad_score_matrices_raise(name, bad, error, match):
    fn, _, n_extra = BOUNDS[name]
    n = bad.shape[0] if isinstance(bad, torch.Tensor) and bad.dim() > 0 else 2
    with pytest.raises(error, match=match):
        fn(bad, *[torch.zeros(n) for _ in range(n_extra)])


def test_bad_vectors_and_options_raise():
    s = torch.zeros(4, 4)
    with pytest.raises(ValueError, match=r"shape \[4\]"):
        mi.tuba(s, torch.zeros(3))
    with pytest.raises(ValueError, match="alpha in"):
        mi.alpha_tuba(s, torch.zeros(4), 1.5)
    with pytest.raises(ValueError, match="N >= 3"):
        mi.alpha_tuba(torch.zeros(2, 2), torch.zeros(2), 0.5)
    with pytest.raises(ValueError, match="tau > 0"):
        mi.smile(s, tau=0.0)
    with pytest.raises(ValueError, match="finite"):
        mi.flo(s, torch.tensor([0.0, math.nan, 0.0, 0.0]))
    with pytest.raises(ValueError, match="ema_decay"):
        mi.MINE(ema_decay=1.0)
