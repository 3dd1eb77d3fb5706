"""Tests for vaekit.data: the packed-MNIST reader (on a fake file) and the shipped binarized digits."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from vaekit.data import DEFAULT_MNIST_PATH, MNIST_ENV_VAR, load_binarized_mnist, load_digits_binarized, mnist_path


def _write_fake_mnist(path, n=(7, 3, 5), seed=0):
    rng = np.random.default_rng(seed)
    images = {s: rng.integers(0, 2, size=(k, 784), dtype=np.uint8) for s, k in zip(("train", "valid", "test"), n)}
    np.savez(path, **{s: np.packbits(a, axis=1) for s, a in images.items()})
    return images


def test_binarized_mnist_roundtrips_the_packed_format(tmp_path):
    f = tmp_path / "fake.npz"
    images = _write_fake_mnist(f)
    for split, expected in images.items():
        got = load_binarized_mnist(f, split=split)
        assert got.dtype == torch.float32 and got.shape == (expected.shape[0], 784)
        assert torch.equal(got, torch.from_numpy(expected).float())
    assert load_binarized_mnist(f, dtype=torch.float64).dtype == torch.float64


def test_binarized_mnist_errors(tmp_path):
    f = tmp_path / "fake.npz"
    _write_fake_mnist(f)
    with pytest.raises(ValueError, match="split must be one of"):
        load_binarized_mnist(f, split="validation")
    with pytest.raises(FileNotFoundError, match="no file at"):
        load_binarized_mnist(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, train=np.zeros((2, 10), dtype=np.uint8))
    with pytest.raises(ValueError, match="must be uint8"):
        load_binarized_mnist(bad)


@pytest.mark.skipif(not DEFAULT_MNIST_PATH.is_file(), reason="shared binarized MNIST not present")
def test_binarized_mnist_real_file_shapes():
    test = load_binarized_mnist(split="test")
    assert test.shape == (10000, 784)
    assert set(torch.unique(test).tolist()) == {0.0, 1.0}
    # Mean MNIST pixel intensity is about 0.13; a bit-order mistake would give garbage, not ~0.13.
    assert 0.08 < test.mean().item() < 0.2


def test_mnist_path_comes_from_the_argument_the_environment_or_the_repo_layout(tmp_path, monkeypatch):
    # Before: only <repo>/../shared/data/binarized_mnist.npz or an explicit path worked.
    f = tmp_path / "elsewhere.npz"
    images = _write_fake_mnist(f)
    monkeypatch.setenv(MNIST_ENV_VAR, str(f))
    assert mnist_path() == f
    assert torch.equal(load_binarized_mnist(split="valid"), torch.from_numpy(images["valid"]).float())
    assert mnist_path("/x/y.npz") == Path("/x/y.npz")  # an explicit path wins
    monkeypatch.setenv(MNIST_ENV_VAR, str(tmp_path / "missing.npz"))
    with pytest.raises(FileNotFoundError, match=r"missing.npz \(\$VAEKIT_MNIST\).*--data.*VAEKIT_MNIST="):
        load_binarized_mnist()
    monkeypatch.delenv(MNIST_ENV_VAR)
    assert mnist_path() == DEFAULT_MNIST_PATH


def test_digits_ship_with_vaekit_and_need_no_scikit_learn(monkeypatch):
    # Before: load_digits_binarized imported sklearn (and SciPy with it) to read the 8x8 digits.
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn` now fails
    train, test = load_digits_binarized(test_size=0.25, seed=3)
    assert train.shape == (1348, 64) and test.shape == (449, 64) and train.dtype == torch.float32
    assert set(torch.unique(torch.cat([train, test])).tolist()) == {0.0, 1.0}
    packaged = Path(vaekit.__file__).parent / "digits_binarized.npz"
    assert packaged.stat().st_size < 16_000


def test_shipped_digits_are_sklearn_s_digits_binarized_at_one_half():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    # How vaekit/digits_binarized.npz was made: np.savez_compressed(path, images=np.packbits(x, axis=1)).
    expected = torch.from_numpy(load_digits().data / 16.0 > 0.5).float()  # [1797, 64], sklearn's order
    train, test = load_digits_binarized(test_size=0.25, seed=3)
    order = torch.randperm(1797, generator=torch.Generator().manual_seed(3))
    n_test = round(0.25 * 1797)
    assert torch.equal(test, expected[order[:n_test]]) and torch.equal(train, expected[order[n_test:]])
    # Same seed, same split; another seed, another split.
    again, _ = load_digits_binarized(test_size=0.25, seed=3)
    other, _ = load_digits_binarized(test_size=0.25, seed=4)
    assert torch.equal(train, again) and not torch.equal(train, other)


def test_digits_binarized_errors():
    with pytest.raises(ValueError, match="test_size"):
        load_digits_binarized(test_size=1.0)
