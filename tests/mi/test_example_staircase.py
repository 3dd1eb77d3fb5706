"""Smoke test of examples/mi_staircase.py: a few steps per stage, writes its figure."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "mi_staircase.py"


def test_staircase_example_runs_and_writes_its_figure(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("_example_mi_staircase", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "stair.png"
    argv = ["mi_staircase.py", "--steps-per-stage", "4", "--mi", "1", "3", "--dim", "3", "--batch", "8"]
    monkeypatch.setattr(sys, "argv", [*argv, "--hidden", "8", "--quiet", "--out", str(out)])
    module.main()
    assert out.exists() and out.stat().st_size > 0
    printed = capsys.readouterr().out
    for name in ("infonce", "nwj", "mine", "js", "smile"):
        assert name in printed
