"""vaekit.testing: a test kit to property-test gradient estimators against exact answers.

- Toy models with exact answers: :func:`tiny_sbn` (enumerable binary latents) and
  :func:`linear_gaussian` (closed-form log p(x) and ELBO; a Normal family with rsample off).
- One oracle (:mod:`vaekit.testing.oracle`) with every exact target: :func:`exact_log_marginal`,
  :func:`exact_elbo`, :func:`exact_iwae` (enumerating K-tuples), :func:`exact_elbo_gaussian`,
  :func:`exact_iwae_gaussian` (quadrature), the sleep-phi, posterior-fit and RWS wake-phi
  targets, all differentiable; :func:`exact_gradients`.
- One file of float64 loop references (:mod:`vaekit.testing.references`), one per estimator
  (:func:`elbo_reference` ... :func:`dreg_reference`), with :func:`assert_matches_reference` for a
  pure function and :func:`assert_loss_matches_reference` for a Loss module.
- Statistical asserts with a stated failure rate: :func:`gradient_samples`,
  :func:`assert_unbiased`, :func:`assert_gradient_unbiased`, :func:`assert_less_equal_stat`.
- Hypothesis strategies in :mod:`vaekit.testing.strategies` (imported on demand).

Imports torch and vaekit only; nothing in vaekit imports this package.

Example:
    >>> import torch
    >>> from vaekit import VIMCO
    >>> from vaekit.testing import tiny_sbn, exact_iwae, exact_gradients, gradient_samples, assert_unbiased
    >>> _ = torch.manual_seed(0)
    >>> q, p, x = tiny_sbn(seed=0)
    >>> params = list(q.parameters()) + list(p.parameters())
    >>> exact = exact_gradients(lambda: -exact_iwae(q, p, x, 3).mean(), params)  # losses are -objective
    >>> samples = gradient_samples(VIMCO(q, p, n_samples=3), x, params, 200, replicas=20)
    >>> assert_unbiased(samples, exact, failure_rate=1e-3).n_coords
    19
"""

from vaekit.testing.oracle import (
    enumerate_binary,
    exact_elbo,
    exact_elbo_gaussian,
    exact_gradients,
    exact_iwae,
    exact_iwae_gaussian,
    exact_log_marginal,
    exact_posterior_fit,
    exact_renyi_bound,
    exact_rws_wake_phi,
    exact_rws_wake_phi_gaussian,
    exact_sleep_objective,
    exact_tvo,
    exact_tvo_estimator_mean,
    exact_vr,
    exact_vr_gaussian,
    gauss_hermite,
)
from vaekit.testing.references import (
    arm_reference,
    arms_reference,
    assert_loss_matches_reference,
    assert_matches_reference,
    categorical_disarm_reference,
    disarm_reference,
    dreg_reference,
    elbo_reference,
    enumerate_reference,
    indecater_reference,
    iwae_reference,
    local_disarm_reference,
    loo_baseline_reference,
    nvil_reference,
    rebar_reference,
    reinforce_reference,
    rws_dreg_reference,
    rws_reference,
    stl_reference,
    tvo_reference,
    vimco_reference,
    vr_reference,
    wake_sleep_reference,
)
from vaekit.testing.stats import (
    StatSummary,
    assert_gradient_unbiased,
    assert_less_equal_stat,
    assert_unbiased,
    flat,
    gradient_samples,
)
from vaekit.testing.toys import (
    LinearGaussianModel,
    TinyModel,
    linear_gaussian,
    tiny_categorical,
    tiny_layered_sbn,
    tiny_sbn,
)

__all__ = [
    "tiny_sbn",
    "linear_gaussian",
    "LinearGaussianModel",
    "TinyModel",
    "enumerate_binary",
    "exact_log_marginal",
    "exact_elbo",
    "exact_iwae",
    "exact_elbo_gaussian",
    "exact_iwae_gaussian",
    "gauss_hermite",
    "exact_gradients",
    "gradient_samples",
    "flat",
    "assert_unbiased",
    "assert_gradient_unbiased",
    "assert_less_equal_stat",
    "StatSummary",
    "elbo_reference",
    "iwae_reference",
    "vimco_reference",
    "assert_matches_reference",
    "assert_loss_matches_reference",
    "reinforce_reference",
    "loo_baseline_reference",
    "wake_sleep_reference",
    "rws_reference",
    "stl_reference",
    "dreg_reference",
    "rws_dreg_reference",
    "exact_sleep_objective",
    "exact_posterior_fit",
    "exact_rws_wake_phi",
    "exact_rws_wake_phi_gaussian",
    # discrete-latent estimators (issue 12)
    "tiny_categorical",
    "arm_reference",
    "disarm_reference",
    "local_disarm_reference",
    "arms_reference",
    "categorical_disarm_reference",
    "enumerate_reference",
    "indecater_reference",
    "rebar_reference",
    # VR, TVO and multi-layer models (issue 13)
    "vr_reference",
    "tvo_reference",
    "exact_vr",
    "exact_vr_gaussian",
    "exact_renyi_bound",
    "exact_tvo",
    "exact_tvo_estimator_mean",
    "tiny_layered_sbn",
    "nvil_reference",
]
# coupled categorical DisARM-IW (issue 12)
from vaekit.testing.references import categorical_disarm_iw_reference  # noqa: E402

__all__ += ["categorical_disarm_iw_reference"]
