"""Small data readers for the examples, demos and benchmarks: binarized MNIST and the 8x8 digits.

Both return float tensors of 0/1 pixels, one image per row, ready for a Bernoulli likelihood.
The binarized digits ship with vaekit (``vaekit/digits_binarized.npz``, 8 KB), so they need no
scikit-learn; MNIST is read from a file given by argument, by the ``VAEKIT_MNIST`` environment
variable, or found beside the repository.

Shapes:
    load_binarized_mnist: ``[N, 784]``; load_digits_binarized: ``([N_train, 64], [N_test, 64])``.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["DEFAULT_MNIST_PATH", "MNIST_ENV_VAR", "mnist_path", "load_binarized_mnist", "load_digits_binarized"]

# Beside the repository (never copied into it): <repo>/../shared/data/binarized_mnist.npz. Only a
# source checkout has this layout; an installed vaekit takes the path from MNIST_ENV_VAR or an argument.
DEFAULT_MNIST_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "binarized_mnist.npz"
MNIST_ENV_VAR = "VAEKIT_MNIST"
_DIGITS_FILE = "digits_binarized.npz"

_SPLITS = ("train", "valid", "test")
_MNIST_PIXELS = 784


def mnist_path(path: str | Path | None = None) -> Path:
    """Where binarized MNIST is read from: ``path`` if given, else ``$VAEKIT_MNIST`` if set, else
    ``DEFAULT_MNIST_PATH`` (``../shared/data/binarized_mnist.npz`` beside a source checkout).

    Args:
        path: an explicit file, which wins.

    Returns:
        The path (not checked for existence; :func:`load_binarized_mnist` does that).

    Example:
        >>> str(mnist_path("/data/m.npz"))
        '/data/m.npz'
    """
    if path is not None:
        return Path(path)
    env = os.environ.get(MNIST_ENV_VAR)
    return Path(env) if env else DEFAULT_MNIST_PATH


def load_binarized_mnist(
    path: str | Path | None = None, *, split: str = "train", dtype: torch.dtype = torch.float32
) -> Tensor:
    """Read one split of statically binarized MNIST from a packed ``.npz`` file.

    The file holds arrays ``train`` (50000, 98), ``valid`` (10000, 98) and ``test`` (10000, 98),
    each ``np.packbits(X, axis=1)`` of 0/1 pixels; ``np.unpackbits(a, axis=1)[:, :784]`` gives
    the images back (the last 16 bits of each row are padding).

    Shapes:
        Returns ``[N, 784]`` with values in {0, 1}.

    Args:
        path: the ``.npz`` file; default ``$VAEKIT_MNIST``, else ``DEFAULT_MNIST_PATH`` (see :func:`mnist_path`).
        split: ``"train"``, ``"valid"`` or ``"test"``.
        dtype: floating dtype of the result.

    Returns:
        A float tensor of binary images, one per row.

    Example:
        >>> import numpy as np, tempfile, os
        >>> bits = np.packbits(np.ones((3, 784), dtype=np.uint8), axis=1)  # [3, 98]
        >>> f = os.path.join(tempfile.mkdtemp(), "m.npz"); np.savez(f, train=bits, valid=bits, test=bits)
        >>> tuple(load_binarized_mnist(f, split="test").shape)
        (3, 784)
    """
    if split not in _SPLITS:
        raise ValueError(f"load_binarized_mnist: split must be one of {_SPLITS}; got {split!r}")
    given = path
    path = mnist_path(path)
    if not path.is_file():
        source = (
            "the path given"
            if given is not None
            else f"${MNIST_ENV_VAR}"
            if os.environ.get(MNIST_ENV_VAR)
            else f"the default beside the repository (${MNIST_ENV_VAR} is not set)"
        )
        raise FileNotFoundError(
            f"load_binarized_mnist: no file at {path} ({source}); expected a .npz with packed arrays "
            f"{_SPLITS}. Pass the path (--data /path/to/binarized_mnist.npz in the examples) or set "
            f"{MNIST_ENV_VAR}=/path/to/binarized_mnist.npz"
        )
    with np.load(path) as archive:
        if split not in archive.files:
            raise ValueError(f"load_binarized_mnist: {path} has arrays {archive.files}; expected {split!r}")
        packed = archive[split]
    if packed.dtype != np.uint8 or packed.ndim != 2 or packed.shape[1] * 8 < _MNIST_PIXELS:
        raise ValueError(
            f"load_binarized_mnist: array {split!r} must be uint8 [N, >=98] (np.packbits of 784 pixels); "
            f"got {packed.dtype} {packed.shape}"
        )
    images = np.unpackbits(packed, axis=1)[:, :_MNIST_PIXELS]  # [N, 784]
    return torch.from_numpy(images).to(dtype)


def load_digits_binarized(
    *, test_size: float = 0.2, seed: int = 0, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """The 1797 8x8 digits of the UCI handwritten-digits set, binarized and split into train and test.

    The images ship with vaekit (``vaekit/digits_binarized.npz``, no scikit-learn needed). They were
    made once from ``sklearn.datasets.load_digits()``: a pixel is 1 where its intensity, scaled from
    [0, 16] to [0, 1], exceeds 0.5, in scikit-learn's order (``tests/test_data.py`` checks the file
    against scikit-learn when it is installed). The split is a random permutation from
    ``torch.Generator().manual_seed(seed)``, so it is the same on every machine for a given seed.

    Shapes:
        Returns ``(train [N - n_test, 64], test [n_test, 64])``, ``n_test = round(test_size * 1797)``.

    Args:
        test_size: fraction of the 1797 images held out, in (0, 1).
        seed: seed of the split.
        dtype: floating dtype of the result.

    Returns:
        ``(train, test)``, float tensors with values in {0, 1}.

    Example:
        >>> train, test = load_digits_binarized()
        >>> tuple(train.shape), tuple(test.shape)
        ((1438, 64), (359, 64))
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"load_digits_binarized: test_size must be in (0, 1); got {test_size!r}")
    with resources.files("vaekit").joinpath(_DIGITS_FILE).open("rb") as f, np.load(f) as archive:
        packed = archive["images"]  # [1797, 8]
    images = torch.from_numpy(np.unpackbits(packed, axis=1)).to(dtype)  # [1797, 64]
    n = images.shape[0]
    n_test = round(test_size * n)
    if not 0 < n_test < n:
        raise ValueError(f"load_digits_binarized: test_size={test_size} leaves an empty split of {n} images")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # [1797]
    return images[order[n_test:]], images[order[:n_test]]
