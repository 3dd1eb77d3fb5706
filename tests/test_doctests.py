"""Every docstring example in vaekit runs: doctest over each module of the package (so a new module's
examples are covered automatically). Equivalent to ``pytest --doctest-modules vaekit``."""

import doctest
import importlib
import pkgutil

import pytest

import vaekit

MODULES = sorted(m.name for m in pkgutil.walk_packages(vaekit.__path__, prefix="vaekit."))


def test_the_package_is_walked():
    assert {"vaekit._math", "vaekit.models", "vaekit.losses.vimco", "vaekit.testing.oracle"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name} (see output)"
