"""Plug-in latent models: InfNets and GenModels ready to pass to any loss.

One file (or subpackage) per thing built: ``sbn`` (the sigmoid-belief-net pair), ``gaussian_vae``
(the Gaussian VAE pair), ``vib``, ``iob/`` and ``nvib/``; ``mlp`` is the shared network builder.
``categorical`` (one-hot categorical encoder and decoder), ``discrete`` (the discrete-latent
protocol: an estimator reads a factorised Bernoulli or categorical q's logits from
``inf_net.params_["logits"]``, ``[B, *z_shape]``, and one-hot latents are flagged by
``inf_net.one_hot = True``; plus the Gumbel-softmax relaxations) and ``noise`` (Gumbel, logistic
and uniform noise that stays finite in float16/bfloat16, and their conditional forms).
"""

from vaekit.latents.categorical import CategoricalDecoder, CategoricalEncoder
from vaekit.latents.discrete import (
    ExponentialAnnealing,
    discrete_logits,
    is_one_hot,
    relaxed_bernoulli,
    relaxed_one_hot,
)
from vaekit.latents.gaussian_vae import BernoulliDecoder, GaussianEncoder
from vaekit.latents.iob import (
    GeometricWidths,
    IOBLayer,
    OrderedInfNet,
    PoissonWidths,
    UniformWidths,
    intrinsic_dimension,
    ordered_loss,
)
from vaekit.latents.layered import (
    LayeredBernoulliEncoder,
    LayeredGaussianDecoder,
    LayeredGaussianEncoder,
    LayeredSigmoidBeliefNet,
    check_layers,
    split_layers,
)
from vaekit.latents.noise import conditional_gumbel, conditional_logistic, gumbel_noise, logistic_noise, uniform_noise
from vaekit.latents.nvib import (
    NVIB,
    DenoisingAttention,
    NVIBInfNet,
    NVIBLatent,
    kl_dirichlet,
    kl_gaussian,
    nvib_log_prob,
)
from vaekit.latents.sbn import BernoulliEncoder, SigmoidBeliefNet
from vaekit.latents.vib import VIBDecoder, VIBEncoder, categorical_likelihood

__all__ = [
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
    "NVIB",
    "NVIBLatent",
    "NVIBInfNet",
    "DenoisingAttention",
    "kl_gaussian",
    "kl_dirichlet",
    "nvib_log_prob",
    "UniformWidths",
    "GeometricWidths",
    "PoissonWidths",
    "categorical_likelihood",
]
__all__ += [
    "CategoricalEncoder",
    "CategoricalDecoder",
    "ExponentialAnnealing",
    "discrete_logits",
    "is_one_hot",
    "relaxed_bernoulli",
    "relaxed_one_hot",
    "uniform_noise",
    "gumbel_noise",
    "logistic_noise",
    "conditional_gumbel",
    "conditional_logistic",
]
__all__ += [
    "LayeredBernoulliEncoder",
    "LayeredSigmoidBeliefNet",
    "LayeredGaussianEncoder",
    "LayeredGaussianDecoder",
    "split_layers",
    "check_layers",
]
