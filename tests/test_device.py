"""``VAEKIT_DEVICE`` selects the device the whole suite runs on (tests/conftest.py, docs/testing.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import device_from_environment

ROOT = Path(__file__).resolve().parents[1]
# A CUDA device this machine does not have (on a machine without CUDA, any CUDA device).
MISSING = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"


def test_device_fixture_is_the_environment_device_and_the_default(device):
    assert device == device_from_environment(os.environ.get("VAEKIT_DEVICE"))
    assert torch.empty(1).device.type == device.type  # factories without a device land on it
    assert torch.nn.Linear(2, 3).weight.device.type == device.type


def test_unset_or_explicit_cpu_is_the_cpu():
    for value in (None, "", "cpu", " cpu "):
        assert device_from_environment(value) == torch.device("cpu")


def test_unknown_or_unavailable_device_is_a_usage_error_naming_it():
    with pytest.raises(pytest.UsageError, match="VAEKIT_DEVICE='gpu0' is not a torch device name"):
        device_from_environment("gpu0")
    with pytest.raises(pytest.UsageError, match=f"VAEKIT_DEVICE='{MISSING}': the device is not available"):
        device_from_environment(MISSING)


def test_an_unavailable_device_stops_the_run_before_any_test():
    env = {**os.environ, "VAEKIT_DEVICE": MISSING}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_device.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert f"VAEKIT_DEVICE='{MISSING}': the device is not available" in result.stderr
