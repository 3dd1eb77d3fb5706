"""Tests for vaekit.data: the packed-MNIST reader (on a fake file) and the sklearn digits loader."""
import numpy as np
import pytest
import torch

from vaekit.data import DEFAULT_MNIST_PATH, load_binarized_mnist, load_digits_binarized


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


def test_digits_binarized_split_and_threshold():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    train, test = load_digits_binarized(test_size=0.25, seed=3)
    assert train.shape == (1348, 64) and test.shape == (449, 64)
    assert train.dtype == torch.float32
    # The two parts together are exactly the thresholded data set (as multisets of rows).
    expected = torch.from_numpy(load_digits().data / 16.0 > 0.5).float()
    both = torch.cat([train, test])
    key = lambda t: sorted(map(tuple, t.int().tolist()))
    assert key(both) == key(expected)
    # Same seed, same split; another seed, another split.
    again, _ = load_digits_binarized(test_size=0.25, seed=3)
    other, _ = load_digits_binarized(test_size=0.25, seed=4)
    assert torch.equal(train, again) and not torch.equal(train, other)


def test_digits_binarized_errors():
    with pytest.raises(ValueError, match="test_size"):
        load_digits_binarized(test_size=1.0)
    with pytest.raises(ValueError, match="threshold"):
        load_digits_binarized(threshold=1.5)
