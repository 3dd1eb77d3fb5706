"""Smoke tests of examples/hsic_bottleneck.py and examples/information_plane.py, and the 12-bit task's data."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_twelve_bit_task_is_the_documented_construction():
    ex = _load("information_plane")
    u = ex.icosahedron()
    gram = u @ u.T
    off = gram[~torch.eye(12, dtype=torch.bool)]
    # a regular icosahedron: unit vectors, each with 5 neighbours at <u, v> = 1/sqrt(5), one antipode
    assert torch.allclose(u.norm(dim=1), torch.ones(12, dtype=torch.float64))
    assert torch.allclose(
        torch.sort(torch.unique(off.round(decimals=9))).values,
        torch.tensor([-1.0, -(5**-0.5), 5**-0.5], dtype=torch.float64),
    )
    x, y, theta = ex.twelve_bit_task()
    assert x.shape == (4096, 12) and torch.unique(x, dim=0).shape[0] == 4096  # every pattern once
    assert abs(y.double().mean().item() - 0.5) < 0.01
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))  # a random rotation (or reflection)
    f = (x.double() @ u).pow(2).sum(1)
    assert torch.allclose((x.double() @ (u @ q.T)).pow(2).sum(1), f)  # spherically symmetric
    assert torch.equal((f > theta + 1e-9).long(), y)


def test_hsic_bottleneck_example_on_digits_and_on_labelled_fake_mnist(tmp_path):
    ex = _load("hsic_bottleneck")
    common = ["--epochs", "1", "--format-epochs", "1", "--width", "8", "--depth", "2", "--no-progress"]
    res = ex.main(["--dataset", "digits", "--train-size", "200", "--output", str(tmp_path / "a.png"), *common])
    assert 0.0 <= res["hsic_accuracy"] <= 1.0 and 0.0 <= res["backprop_accuracy"] <= 1.0
    assert (tmp_path / "a.png").stat().st_size > 0
    rng = np.random.default_rng(0)
    bits = {
        s: rng.integers(0, 2, size=(n, 784), dtype=np.uint8) for s, n in (("train", 40), ("valid", 5), ("test", 12))
    }
    np.savez(tmp_path / "m.npz", **{s: np.packbits(a, axis=1) for s, a in bits.items()})
    np.savez(tmp_path / "labels.npz", train=rng.integers(0, 10, 40), test=rng.integers(0, 10, 12))
    res = ex.main(
        [
            "--dataset",
            "mnist",
            "--data",
            str(tmp_path / "m.npz"),
            "--labels",
            str(tmp_path / "labels.npz"),
            "--batch-size",
            "20",
            "--output",
            str(tmp_path / "b.png"),
            *common,
        ]
    )
    assert res["dataset"] == "binarized MNIST"
    with pytest.raises(SystemExit):
        ex.main(["--dataset", "mnist", "--data", str(tmp_path / "m.npz"), *common])


@pytest.mark.slow
def test_information_plane_example_runs(tmp_path):
    ex = _load("information_plane")
    out = ex.main(["--epochs", "2", "--records", "2", "--no-progress", "--output", str(tmp_path / "p.png")])
    assert (tmp_path / "p.png").stat().st_size > 0
    assert {s["activation"] for s in out["summary"]} == {"tanh", "relu"}
    assert all(0 <= s["final"] <= 12 + 1e-9 and s["final_ity"] <= math.log2(2) + 1e-9 for s in out["summary"])
