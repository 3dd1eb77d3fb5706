"""Seed and device policy for the whole suite.

- Every test starts from ``torch.manual_seed(0)`` (autouse fixture): a test that draws random
  numbers is reproducible on its own and independent of test order. Tests never search for a
  seed that passes; statistical tests state their failure rate instead.
- Hypothesis runs derandomized (the same examples on every run), without deadlines (the first
  call of a torch op is slow) and with few examples: each example of a statistical property is
  itself a test with thousands of draws.
- One intra-op thread: the suite is made of tiny tensors, where threads only add contention.
- Device: ``VAEKIT_DEVICE`` (default ``cpu``) names the torch device the suite runs on, e.g.
  ``VAEKIT_DEVICE=cuda python -m pytest``. It becomes torch's default device, so every tensor and
  module a test creates without naming a device lands there, and the ``device`` fixture returns it
  for tests that name one. A device that does not exist or is not available stops the run at once
  with a message naming it (docs/testing.md).
"""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)

settings.register_profile(
    "vaekit",
    deadline=None,
    derandomize=True,
    max_examples=10,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.load_profile("vaekit")

DEVICE_VARIABLE = "VAEKIT_DEVICE"


def device_from_environment(value: str | None) -> torch.device:
    """The torch device ``VAEKIT_DEVICE`` names (``cpu`` when unset); raises ``pytest.UsageError`` if unusable."""
    name = (value or "cpu").strip()
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise pytest.UsageError(
            f"{DEVICE_VARIABLE}={name!r} is not a torch device name (expected e.g. 'cpu', 'cuda', 'cuda:1'): {err}"
        ) from None
    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError, AttributeError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise pytest.UsageError(
            f"{DEVICE_VARIABLE}={name!r}: the device is not available in this torch build or on this machine "
            f"(torch {torch.__version__}, cuda available: {torch.cuda.is_available()}): {reason}"
        ) from None
    return device


DEVICE = torch.device("cpu")


def pytest_configure(config: pytest.Config) -> None:
    global DEVICE
    DEVICE = device_from_environment(os.environ.get(DEVICE_VARIABLE))
    if DEVICE.type != "cpu":
        torch.set_default_device(DEVICE)


def pytest_report_header(config: pytest.Config) -> str:
    return f"vaekit test device: {DEVICE} (set {DEVICE_VARIABLE} to change)"


@pytest.fixture
def device() -> torch.device:
    """The device the suite runs on (``VAEKIT_DEVICE``, default cpu)."""
    return DEVICE


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)
    yield
