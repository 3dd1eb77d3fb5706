"""Smoke runs of the IB examples with tiny settings: they run end to end and return their figures."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytest.importorskip("sklearn")
pytest.importorskip("tqdm")


@pytest.fixture(autouse=True)
def _on_the_cpu():
    # The examples are CPU scripts (CPU generators, NumPy plots): under VAEKIT_DEVICE they still run there.
    with torch.device("cpu"):
        yield


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vib_digits_runs():
    results = _load("vib_digits").main(["--betas", "1e-3", "1.0", "--epochs", "1", "--out", ""])
    assert [r["beta"] for r in results] == [1e-3, 1.0]
    assert all(0 <= r["acc_mean"] <= 1 and r["kl"] >= 0 for r in results)


def test_iob_digits_runs():
    out = _load("iob_digits").main(["--features", "4", "--epochs", "1", "--out", ""])
    assert len(out["errors"]) == 5 and len(out["pca"]) == 5 and 0 <= out["intrinsic_dimension"] <= 4
    assert all(math.isfinite(e) for e in out["errors"])


def test_nvib_transformer_runs():
    out = _load("nvib_transformer").main(["--steps", "3", "--kappa", "2", "--out", ""])
    assert 0 <= out["token_acc"] <= 1 and math.isfinite(out["kl_g"]) and math.isfinite(out["kl_d"])
