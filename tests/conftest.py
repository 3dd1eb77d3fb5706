"""Seed policy for the whole suite.

- Every test starts from ``torch.manual_seed(0)`` (autouse fixture): a test that draws random
  numbers is reproducible on its own and independent of test order. Tests never search for a
  seed that passes; statistical tests state their failure rate instead.
- Hypothesis runs derandomized (the same examples on every run), without deadlines (the first
  call of a torch op is slow) and with few examples: each example of a statistical property is
  itself a test with thousands of draws.
- One intra-op thread: the suite is made of tiny tensors, where threads only add contention.
"""
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


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)
    yield
