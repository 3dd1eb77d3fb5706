"""The main job (python -m vaekit.demo) runs end to end with tiny settings and reports a sane bound."""

import math

import pytest

from vaekit import demo

pytest.importorskip("matplotlib")  # the only extra the demo needs: the digits ship with vaekit


@pytest.mark.parametrize("estimator", sorted(demo.estimators()))
def test_demo_runs_every_estimator_and_writes_the_plot(estimator, tmp_path, capsys):
    out = tmp_path / "curve.png"
    figures = demo.main(
        [
            "--estimator",
            estimator,
            "--steps",
            "30",
            "--eval-samples",
            "20",
            "--latent",
            "8",
            "--output",
            str(out),
            "--no-progress",
        ]
    )
    printed = capsys.readouterr().out
    assert out.exists() and out.stat().st_size > 1000
    assert str(out) in printed and "test-set IWAE bound (K=20, all 359 test digits)" in printed
    # 64 binary pixels: any model's log-likelihood is at most 0 and, for a model this small and
    # barely trained, far above the 64*log(1/2) = -44.4 nats of a uniform model minus slack.
    assert -80.0 < figures["test_bound"] < 0.0 and math.isfinite(figures["train_bound"])


def test_demo_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--samples", "0"])
    assert "--samples must be >= 1; got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        demo.main(["--estimator", "vimco", "--samples", "1", "--steps", "1", "--output", "/dev/null/x.png"])
