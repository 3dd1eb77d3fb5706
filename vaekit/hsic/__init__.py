"""Kernel dependence: Gram-matrix kernels, HSIC estimators, independence tests, HSIC-bottleneck training.

Kernels (``gaussian_gram``, ``linear_gram``) turn samples ``[..., m, d]`` into Gram matrices
``[..., m, m]``; the estimators are pure functions of Gram matrices (DESIGN.md: kernels are
separate). Imports torch only.
"""

from vaekit.hsic.bottleneck import HSICBottleneck
from vaekit.hsic.estimators import (
    center_gram,
    check_grams,
    cka,
    hsic_biased,
    hsic_unbiased,
    nhsic,
    nhsic_projector,
    trace_product,
)
from vaekit.hsic.independence import HSICTestResult, hsic_gamma_test, hsic_permutation_test
from vaekit.hsic.kernels import check_samples, gaussian_gram, linear_gram, median_bandwidth, squared_distances

__all__ = [
    "gaussian_gram",
    "linear_gram",
    "median_bandwidth",
    "squared_distances",
    "check_samples",
    "center_gram",
    "check_grams",
    "trace_product",
    "hsic_biased",
    "hsic_unbiased",
    "nhsic",
    "nhsic_projector",
    "cka",
    "HSICTestResult",
    "hsic_gamma_test",
    "hsic_permutation_test",
    "HSICBottleneck",
]
