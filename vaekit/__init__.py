"""vaekit: black-box gradient estimators for VAEs and other latent-variable models, in PyTorch.

This file is the one list of what is public.
"""

from vaekit import mi  # mutual-information bounds, critics, estimate_mi, ground-truth tasks
from vaekit._math import logmeanexp, with_grad
from vaekit._version import __version__ as __version__
from vaekit.baselines import (
    Baseline,
    InputDependentBaseline,
    LeaveOneOut,
    MovingAverage,
    VarianceNormalization,
    nvil_baselines,
)
from vaekit.data import load_binarized_mnist, load_digits_binarized
from vaekit.diagnostics import GradientComparison, GradientStats, compare_estimators, gradient_draws, gradient_stats
from vaekit.evaluate import IWAEEvaluation, evaluate_iwae, iwae_bound

# kernel dependence and the information plane (more in the subpackages vaekit.hsic, vaekit.infoplane)
from vaekit.hsic import (
    HSICBottleneck,
    cka,
    gaussian_gram,
    hsic_biased,
    hsic_gamma_test,
    hsic_permutation_test,
    hsic_unbiased,
    linear_gram,
    nhsic,
)
from vaekit.infoplane import InformationPlaneTracker, binned_mi, kde_mi, plot_information_plane
from vaekit.latents import (
    NVIB,
    BernoulliDecoder,
    BernoulliEncoder,
    CategoricalDecoder,
    CategoricalEncoder,
    DenoisingAttention,
    ExponentialAnnealing,
    GaussianEncoder,
    GeometricWidths,
    IOBLayer,
    LayeredBernoulliEncoder,
    LayeredGaussianDecoder,
    LayeredGaussianEncoder,
    LayeredSigmoidBeliefNet,
    NVIBInfNet,
    NVIBLatent,
    OrderedInfNet,
    PoissonWidths,
    SigmoidBeliefNet,
    UniformWidths,
    VIBDecoder,
    VIBEncoder,
    check_layers,
    intrinsic_dimension,
    kl_dirichlet,
    kl_gaussian,
    nvib_log_prob,
    ordered_loss,
    split_layers,
)
from vaekit.losses import (
    ARM,
    ARMS,
    ELBO,
    IWAE,
    NVIL,
    REBAR,
    RELAX,
    RWS,
    STL,
    TVO,
    VIMCO,
    VR,
    CategoricalDisARM,
    DisARM,
    DReG,
    Enumerate,
    GumbelRao,
    GumbelSoftmax,
    IndeCateR,
    LocalDisARM,
    Loss,
    Reinforce,
    RWSDReG,
    VRScore,
    WakeSleep,
    arm_estimate,
    arms_estimate,
    categorical_disarm_estimate,
    disarm_estimate,
    dreg_estimate,
    elbo_estimate,
    enumerate_estimate,
    indecater_estimate,
    iwae_estimate,
    local_disarm_estimate,
    log_uniform_partition,
    nvil_estimate,
    reinforce_estimate,
    rws_dreg_estimate,
    rws_estimate,
    stl_estimate,
    tvo_estimate,
    vimco_estimate,
    vr_estimate,
    vr_score_estimate,
    wake_sleep_estimate,
)
from vaekit.models import DistributionGenModel, DistributionInfNet, GenModel, InfNet
from vaekit.step import TrainStep, make_train_step
from vaekit.training import FitResult, fit

__all__ = [
    # models
    "InfNet",
    "GenModel",
    "DistributionInfNet",
    "DistributionGenModel",
    # latent models
    "BernoulliEncoder",
    "SigmoidBeliefNet",
    "GaussianEncoder",
    "BernoulliDecoder",
    "VIBEncoder",
    "VIBDecoder",
    "IOBLayer",
    "OrderedInfNet",
    "ordered_loss",
    "intrinsic_dimension",
    "UniformWidths",
    "GeometricWidths",
    "PoissonWidths",
    "NVIB",
    "NVIBLatent",
    "NVIBInfNet",
    "DenoisingAttention",
    "kl_gaussian",
    "kl_dirichlet",
    "nvib_log_prob",
    # losses
    "Loss",
    "ELBO",
    "IWAE",
    "VIMCO",
    "elbo_estimate",
    "iwae_estimate",
    "vimco_estimate",
    "Reinforce",
    "WakeSleep",
    "RWS",
    "STL",
    "DReG",
    "reinforce_estimate",
    "wake_sleep_estimate",
    "rws_estimate",
    "stl_estimate",
    "dreg_estimate",
    # baselines (control variates)
    "Baseline",
    "MovingAverage",
    "LeaveOneOut",
    "InputDependentBaseline",
    "VarianceNormalization",
    "nvil_baselines",
    # evaluation
    "iwae_bound",
    # training
    "fit",
    # data
    "load_binarized_mnist",
    "load_digits_binarized",
    # gradient diagnostics
    "gradient_draws",
    "gradient_stats",
    "compare_estimators",
    "GradientStats",
    "GradientComparison",
    # math
    "logmeanexp",
    "with_grad",
    # kernel dependence (vaekit.hsic)
    "gaussian_gram",
    "linear_gram",
    "hsic_biased",
    "hsic_unbiased",
    "nhsic",
    "cka",
    "hsic_gamma_test",
    "hsic_permutation_test",
    "HSICBottleneck",
    # information plane (vaekit.infoplane)
    "InformationPlaneTracker",
    "binned_mi",
    "kde_mi",
    "plot_information_plane",
    # issue 8: RWS with DReG's wake-phi as its own estimator
    "RWSDReG",
    "rws_dreg_estimate",
    # compiled training step
    "make_train_step",
    "TrainStep",
    # evaluation on a whole split, training results (issue 10)
    "evaluate_iwae",
    "IWAEEvaluation",
    "FitResult",
    # mutual information (subpackage)
    "mi",
    # discrete latents and their estimators (issue 12)
    "CategoricalEncoder",
    "CategoricalDecoder",
    "ExponentialAnnealing",
    "Enumerate",
    "ARM",
    "DisARM",
    "LocalDisARM",
    "ARMS",
    "GumbelSoftmax",
    "GumbelRao",
    "IndeCateR",
    "REBAR",
    "RELAX",
    "enumerate_estimate",
    "arm_estimate",
    "disarm_estimate",
    "local_disarm_estimate",
    "arms_estimate",
    "indecater_estimate",
    "CategoricalDisARM",
    "categorical_disarm_estimate",
]
__all__ += [
    # Rényi and thermodynamic objectives; multi-layer latent models
    "VR",
    "VRScore",
    "TVO",
    "vr_estimate",
    "vr_score_estimate",
    "tvo_estimate",
    "log_uniform_partition",
    "NVIL",
    "nvil_estimate",
    "LayeredBernoulliEncoder",
    "LayeredSigmoidBeliefNet",
    "LayeredGaussianEncoder",
    "LayeredGaussianDecoder",
    "split_layers",
    "check_layers",
]
# coupled categorical DisARM-IW (issue 12, Dong, Mnih & Tucker 2021)
from vaekit.losses import CategoricalDisARMIW, categorical_disarm_iw_estimate  # noqa: E402

__all__ += ["CategoricalDisARMIW", "categorical_disarm_iw_estimate"]
