"""Ground-truth tasks: closed-form MI against Monte-Carlo averages of the pointwise MI."""

from __future__ import annotations

import math

import pytest
import torch

from vaekit.mi import tasks

NAMES = tasks.list_tasks()
Z_1E4 = 3.89  # two-sided P(|Z| > 3.89) = 1e-4 per task


def test_there_are_at_least_twelve_tasks_with_bmi_names():
    assert len(NAMES) >= 12
    for bmi_name in (
        "1v1-normal-0.75",
        "1v1-additive-0.1",
        "student-identity-1-1-1",
        "asinh-student-identity-1-1-1",
        "multinormal-dense-2-2-0.5",
        "wiggly-1v1-normal-0.75",
        "half_cube-1v1-normal-0.75",
    ):
        assert bmi_name in NAMES
    assert [f"staircase-20-{float(i)}" for i in (2, 4, 6, 8, 10)] == [n for n in NAMES if n.startswith("staircase")]


@pytest.mark.parametrize("name", NAMES)
def test_closed_form_mi_matches_monte_carlo(name):
    task = tasks.get_task(name)
    x, y = task.sample(20_000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert x.shape == (20_000, task.dim_x) and y.shape == (20_000, task.dim_y)
    pmi = task.log_prob(x, y) - task.log_prob_x(x) - task.log_prob_y(y)  # [n]
    assert torch.isfinite(pmi).all()
    se = pmi.std().item() / math.sqrt(pmi.numel())
    assert abs(pmi.mean().item() - task.mutual_information) <= Z_1E4 * se, (pmi.mean().item(), se)


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in NAMES
        if n.startswith(
            (
                "1v1",
                "half_cube-1v1",
                "normal_cdf-1v1",
                "wiggly-1v1",
                "student-identity-1-1",
                "asinh-student-identity-1-1",
            )
        )
    ],
)
def test_one_dimensional_marginal_densities_integrate_to_one(name):
    # The pointwise MI test cancels the Jacobians of the transformed tasks; this checks them.
    task = tasks.get_task(name)
    grid = torch.linspace(-60, 60, 400_001, dtype=torch.float64)
    mid = ((grid[1:] + grid[:-1]) / 2)[:, None]  # midpoints never hit a singular point
    h = (grid[1] - grid[0]).item()
    for log_p in (task.log_prob_x, task.log_prob_y):
        mass = (torch.exp(log_p(mid)) * h).sum().item()
        tail = 0.02 if "student" in name and "asinh" not in name else 2e-3  # Cauchy tails beyond +-60
        assert mass == pytest.approx(1.0, abs=tail), mass


def test_staircase_and_bivariate_normal_closed_forms():
    assert tasks.staircase(4.0).mutual_information == pytest.approx(4.0, abs=1e-9)
    assert tasks.bivariate_normal(0.9).mutual_information == pytest.approx(-0.5 * math.log(1 - 0.81), abs=1e-12)
    assert tasks.bivariate_normal(0.9).mutual_information == pytest.approx(0.830, abs=5e-4)


def test_sampling_is_reproducible_from_the_generator():
    task = tasks.get_task("student-identity-2-2-1")
    a = task.sample(5, generator=torch.Generator().manual_seed(1))
    b = task.sample(5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[0].dtype == torch.get_default_dtype()


def test_bad_task_names_and_arguments_raise():
    with pytest.raises(ValueError, match="unknown MI task 'nope'; expected one of"):
        tasks.get_task("nope")
    with pytest.raises(TypeError, match="task name"):
        tasks.get_task(3)
    with pytest.raises(ValueError, match="positive integer n"):
        tasks.get_task("1v1-normal-0.75").sample(0)
    with pytest.raises(ValueError, match=r"correlation in \(-1, 1\)"):
        tasks.bivariate_normal(1.0)
