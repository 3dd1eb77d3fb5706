"""Smoke test of examples/discrete_vae.py on sklearn's 8x8 digits: a few steps, a finite bound, a plot."""

import importlib.util
import math
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "discrete_vae.py"


def _load():
    spec = importlib.util.spec_from_file_location("_example_discrete_vae", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "latents,estimators",
    [
        ("categorical", ["gumbel-rao"]),
        pytest.param("bernoulli", ["disarm", "relax"], marks=pytest.mark.slow),
    ],
)
def test_discrete_vae_example_runs_and_plots(tmp_path, latents, estimators):
    out = tmp_path / "plot.png"
    bounds = _load().main(
        [
            "--digits",
            "--latents",
            latents,
            "--estimator",
            *estimators,
            "--steps",
            "3",
            "--eval-size",
            "20",
            "--eval-samples",
            "5",
            "--output",
            str(out),
            "--no-progress",
        ]
    )
    assert set(bounds) == set(estimators) and all(math.isfinite(b) and b < 0 for b in bounds.values())
    assert out.exists() and out.stat().st_size > 0


def test_discrete_vae_example_rejects_a_bernoulli_estimator_on_categorical_latents():
    with pytest.raises(SystemExit):
        _load().main(["--digits", "--latents", "categorical", "--estimator", "disarm", "--steps", "1"])
