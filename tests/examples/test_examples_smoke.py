"""Smoke tests of examples/sbn_mnist.py and examples/vae_mnist.py on a tiny fake data file.

Each example runs for a few steps on a 40-image .npz in the packed format, writes its plot and
checkpoints, then resumes from the checkpoints and continues where it stopped.
"""

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def _examples_on_path(monkeypatch):
    # The MNIST examples import their shared helper, examples/mnist_common.py, as a sibling module
    # (as a script run from any directory or under torchrun does, its folder being on sys.path).
    monkeypatch.syspath_prepend(str(EXAMPLES))


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_mnist(tmp_path):
    rng = np.random.default_rng(0)
    bits = {
        s: rng.integers(0, 2, size=(n, 784), dtype=np.uint8) for s, n in (("train", 40), ("valid", 5), ("test", 12))
    }
    path = tmp_path / "fake_mnist.npz"
    np.savez(path, **{s: np.packbits(a, axis=1) for s, a in bits.items()})
    return path


@pytest.mark.parametrize(
    "example, estimators, extra",
    [
        ("sbn_mnist", ["vimco", "nvil", "rws"], ["--latent", "3"]),
        ("vae_mnist", ["iwae", "dreg"], ["--latent", "2", "--hidden", "8"]),
    ],
)
def test_example_trains_plots_checkpoints_and_resumes(example, estimators, extra, fake_mnist, tmp_path, capsys):
    main = _load(example).main
    ck, png = tmp_path / "ck", tmp_path / "plot.png"
    common = [
        "--data",
        str(fake_mnist),
        "--estimators",
        *estimators,
        "--samples",
        "2",
        "--batch-size",
        "5",
        "--eval-samples",
        "3",
        "--checkpoint-dir",
        str(ck),
        "--checkpoint-every",
        "2",
        "--output",
        str(png),
        "--no-progress",
        *extra,
    ]
    results = main([*common, "--steps", "4"])
    assert sorted(results) == sorted(estimators)
    assert all(np.isfinite(v) and v < 0 for v in results.values())  # a log-likelihood bound of 784 pixels
    assert png.is_file() and png.stat().st_size > 0
    assert f"plot written to {png}" in capsys.readouterr().out
    first = {}
    for name in estimators:
        state = torch.load(ck / f"{name}.pt", weights_only=True)
        assert state["step"] == 4 and len(state["history"]) == 4
        first[name] = state["history"]

    main([*common, "--steps", "6", "--resume"])
    for name in estimators:
        state = torch.load(ck / f"{name}.pt", weights_only=True)
        assert state["step"] == 6 and state["history"][:4] == first[name]


def test_bad_flags_are_rejected(fake_mnist, tmp_path, capsys):
    main = _load("sbn_mnist").main
    with pytest.raises(SystemExit):
        main(["--data", str(fake_mnist), "--resume"])  # --resume without --checkpoint-dir
    with pytest.raises(SystemExit):
        main(["--data", str(fake_mnist), "--samples", "1"])  # VIMCO needs K >= 2
    # Before: a mistyped checkpoint directory with --resume silently started from scratch.
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["--data", str(fake_mnist), "--checkpoint-dir", str(tmp_path / "typo"), "--resume"])
    assert "--resume: no checkpoint at" in capsys.readouterr().err


@pytest.fixture
def big_test_split(tmp_path):
    """A fake file whose test split (1100 images) is larger than the 1000 the examples used to score."""
    rng = np.random.default_rng(1)
    sizes = (("train", 20), ("valid", 2), ("test", 1100))
    bits = {s: rng.integers(0, 2, size=(n, 784), dtype=np.uint8) for s, n in sizes}
    path = tmp_path / "big_test.npz"
    np.savez(path, **{s: np.packbits(a, axis=1) for s, a in bits.items()})
    return path


def test_examples_score_the_whole_test_split_or_a_named_subset(big_test_split, tmp_path, capsys):
    # Before: the examples scored the first 1000 test images by default (sorted by digit: nearly all zeros).
    main = _load("sbn_mnist").main
    common = [
        "--data",
        str(big_test_split),
        "--estimators",
        "vimco",
        "--steps",
        "1",
        "--samples",
        "2",
        "--batch-size",
        "5",
        "--latent",
        "2",
        "--eval-samples",
        "2",
        "--no-progress",
        "--output",
        str(tmp_path / "p.png"),
    ]
    main(common)
    assert "IWAE_2 = " in (out := capsys.readouterr().out) and "on the whole test split (1100 points)" in out
    main([*common, "--eval-subset", "300", "--seed", "4"])
    assert "on a random subset of 300 of the 1100 test points (seed 4)" in capsys.readouterr().out


def test_example_resume_checks_the_run(fake_mnist, tmp_path):
    main = _load("sbn_mnist").main
    ck = tmp_path / "ck"
    common = [
        "--data",
        str(fake_mnist),
        "--estimators",
        "vimco",
        "--batch-size",
        "5",
        "--latent",
        "3",
        "--eval-samples",
        "2",
        "--checkpoint-dir",
        str(ck),
        "--no-progress",
        "--output",
        str(tmp_path / "p.png"),
    ]
    main([*common, "--steps", "2", "--samples", "2"])
    # Before: a different K was accepted and a different --lr silently ignored.
    with pytest.raises(ValueError, match="setting 'n_samples': checkpoint 2, now 3"):
        main([*common, "--steps", "3", "--samples", "3", "--resume"])
    with pytest.warns(UserWarning, match="learning rate 0.01"):
        main([*common, "--steps", "3", "--samples", "2", "--lr", "1e-2", "--resume"])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")
def test_sbn_example_under_torchrun(fake_mnist, tmp_path):
    png = tmp_path / "plot.png"
    cmd = [
        "torchrun",
        "--nproc_per_node=2",
        str(EXAMPLES / "sbn_mnist.py"),
        "--data",
        str(fake_mnist),
        "--estimators",
        "vimco",
        "--steps",
        "3",
        "--samples",
        "2",
        "--batch-size",
        "5",
        "--latent",
        "3",
        "--eval-samples",
        "3",
        "--no-progress",
        "--output",
        str(png),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("test IWAE bound") == 1  # rank 0 alone evaluates
    assert png.is_file()
