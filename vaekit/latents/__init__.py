"""Plug-in latent models: InfNets and GenModels ready to pass to any loss.

One file (or subpackage) per thing built: ``sbn`` (the sigmoid-belief-net pair), ``gaussian_vae``
(the Gaussian VAE pair), ``vib``, ``iob/`` and ``nvib/``; ``mlp`` is the shared network builder.
"""

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
from vaekit.latents.layered import (
    LayeredBernoulliEncoder,
    LayeredGaussianDecoder,
    LayeredGaussianEncoder,
    LayeredSigmoidBeliefNet,
    check_layers,
    split_layers,
)

__all__ = ["BernoulliEncoder", "SigmoidBeliefNet", "GaussianEncoder", "BernoulliDecoder",
           "VIBEncoder", "VIBDecoder", "IOBLayer", "OrderedInfNet", "ordered_loss", "intrinsic_dimension",
           "NVIB", "NVIBLatent", "NVIBInfNet", "DenoisingAttention", "kl_gaussian", "kl_dirichlet", "nvib_log_prob",
           "UniformWidths", "GeometricWidths", "PoissonWidths", "categorical_likelihood"]
__all__ += ["LayeredBernoulliEncoder", "LayeredSigmoidBeliefNet", "LayeredGaussianEncoder", "LayeredGaussianDecoder",
            "split_layers", "check_layers"]
