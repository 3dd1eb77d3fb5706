"""The import-direction rule of DESIGN.md, enforced by parsing every module of vaekit with ast.

_math <- models <- baselines / latents <- losses <- the rest (fit, evaluate, demo, ...);
estimator files do not import each other; nothing in vaekit imports vaekit.testing; and at
module level vaekit imports only the standard library, torch and numpy (the runtime
dependencies), except vaekit.testing.strategies (hypothesis, from the test extra).
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import vaekit

ROOT = Path(vaekit.__file__).parent
MODULES = sorted(p for p in ROOT.rglob("*.py"))

# Layer of each part of the package; a module may import only from lower layers (or its own package).
LAYERS = {"_math": 0, "models": 1, "baselines": 2, "latents": 2, "losses": 3}
LAYERS["mi"] = 1  # mutual information sits on _math only: it must not import models, latents or losses
TOP = 4  # every other top-level module (fit, evaluate, data, demo, diagnostics, __init__ ...)


def _module_name(path: Path, root: Path | None = None) -> str:
    parts = path.relative_to((root or ROOT).parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, module_level_only: bool = False, root: Path | None = None) -> list[str]:
    """Absolute names imported by a file (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            names.append(mod)
            names += [f"{mod}.{a.name}" for a in node.names]  # `from vaekit import losses` imports a module
    return names


def _part(name: str) -> str | None:
    """The top-level part of vaekit a dotted name belongs to (``vaekit.losses.elbo`` -> ``losses``)."""
    parts = name.split(".")
    return parts[1] if parts[0] == "vaekit" and len(parts) > 1 else None


def _layer(part: str | None) -> int:
    return LAYERS.get(part, TOP)


IDS = [_module_name(p) for p in MODULES]


def test_there_are_modules_to_check():
    assert {"vaekit._math", "vaekit.models", "vaekit.losses.base", "vaekit.losses.vimco"} <= set(IDS)


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_import_direction(path):
    name = _module_name(path)
    own = _part(name)
    for imported in _imports(path):
        if imported != "vaekit" and not imported.startswith("vaekit."):
            continue
        other = _part(imported)
        if other is not None and not _is_module(f"vaekit.{other}"):
            other = None  # `from vaekit import logmeanexp`: a name from the package root
        if own != "testing":
            assert other != "testing", f"{name} imports {imported}: nothing in vaekit imports vaekit.testing"
        if own == "testing" or _layer(own) == TOP or other == own:
            continue
        target = TOP if other is None else _layer(other)
        assert target < _layer(own), (
            f"{name} (layer {_layer(own)}) imports {imported} (layer {target}): the import direction is "
            "_math <- models <- baselines/latents <- losses <- the rest (and the package root is the top)"
        )


def _is_module(dotted: str) -> bool:
    path = ROOT.parent / Path(*dotted.split("."))
    return path.with_suffix(".py").exists() or path.is_dir()


ESTIMATORS = [p for p in (ROOT / "losses").glob("*.py") if p.name not in ("__init__.py", "base.py")]


@pytest.mark.parametrize("path", ESTIMATORS, ids=[p.stem for p in ESTIMATORS])
def test_estimator_files_do_not_import_each_other(path):
    for imported in _imports(path):
        if imported.startswith("vaekit.losses.") and _is_module(imported):
            assert imported == "vaekit.losses.base", f"losses/{path.name} imports {imported}"


ALLOWED_THIRD_PARTY = {"torch", "numpy"}


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_module_level_imports_are_runtime_dependencies_only(path):
    name = _module_name(path)
    allowed = ALLOWED_THIRD_PARTY | ({"hypothesis"} if name == "vaekit.testing.strategies" else set())
    for imported in _imports(path, module_level_only=True):
        top = imported.split(".")[0]
        if top in ("vaekit", "__future__") or top in sys.stdlib_module_names:
            continue
        assert top in allowed, (
            f"{name} imports {top} at module level; only {sorted(allowed)} and the standard library are "
            "installed by `pip install vaekit` (import optional packages inside the function that needs them)"
        )


def test_the_import_parser_resolves_relative_imports(tmp_path):
    names = _imports(ROOT / "losses" / "vimco.py")
    assert "vaekit.losses.base" in names and "vaekit._math" in names
    pkg = tmp_path / "vaekit" / "losses"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text("from . import base\nfrom .. import models\nfrom ..baselines.base import B\n")
    names = set(_imports(pkg / "x.py", root=tmp_path / "vaekit"))
    assert {"vaekit.losses.base", "vaekit.models", "vaekit.baselines.base"} <= names
