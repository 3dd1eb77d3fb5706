"""The house files: one version, the declared licence, a changelog, and the tools CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import vaekit

tomllib = pytest.importorskip("tomllib")  # the standard library from Python 3.11

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_has_one_source():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "vaekit._version.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.dev\d+)?", vaekit.__version__), vaekit.__version__
    # setuptools reads the literal assignment without importing vaekit (and torch) at build time.
    source = (ROOT / "vaekit" / "_version.py").read_text()
    assert re.search(rf'^__version__ = "{re.escape(vaekit.__version__)}"$', source, re.M)
    # ... and nowhere else: the package root only re-exports it
    init = (ROOT / "vaekit" / "__init__.py").read_text()
    assert "from vaekit._version import __version__ as __version__" in init and '__version__ = "' not in init


def test_the_licence_file_is_the_declared_one():
    assert PYPROJECT["project"]["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "vaekit developers" in text


def test_the_changelog_has_an_unreleased_section():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text and "keepachangelog.com" in text


def test_ci_runs_the_pinned_tools_before_the_tests():
    lint = {re.split(r"[=<>]", r)[0]: r for r in PYPROJECT["project"]["optional-dependencies"]["lint"]}
    assert re.fullmatch(r"ruff==[\d.]+", lint["ruff"]) and re.fullmatch(r"mypy==[\d.]+", lint["mypy"])
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    order = [lines.index(cmd) for cmd in ("ruff check .", "ruff format --check .", "mypy")]
    tests = next(i for i, line in enumerate(lines) if "python -m pytest" in line)
    assert order == sorted(order) and order[-1] < tests
    hooks = (ROOT / ".pre-commit-config.yaml").read_text()
    assert f'"{lint["ruff"]}"' in hooks, "the pre-commit ruff hooks pin the lint extra's ruff"
