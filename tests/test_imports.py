"""The import-direction rule of DESIGN.md, enforced by parsing every module of vaekit with ast.

Every top-level part of vaekit declares its layer in LAYERS (a new part fails until it does); a
module may import only from lower layers or its own part: _math <- models <- baselines / latents
<- losses <- diagnostics, evaluate, step <- training <- the package root <- demo. Estimator files
do not import each other; nothing in vaekit imports vaekit.testing; no private name is imported
across files; and at module level vaekit imports only the standard library, torch and numpy (the
runtime dependencies), except vaekit.testing.strategies (hypothesis, from the test extra).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import vaekit

ROOT = Path(vaekit.__file__).parent
MODULES = sorted(p for p in ROOT.rglob("*.py"))

# The layer of every top-level part of vaekit (a subpackage or a module of vaekit/); a module may
# import only from lower layers or from its own part. A new part is declared here, or the suite fails.
# Parts not (yet) in the tree are declared too, so the builders of each agree on its place.
LAYERS = {
    "_math": 0,  # logmeanexp, with_grad: torch only
    "models": 1,  # InfNet, GenModel and the distribution-backed bases
    "data": 1,  # the data readers: numpy and torch only
    "mi": 1,  # mutual-information bounds: _math and torch only (DESIGN.md)
    "hsic": 1,  # kernel dependence: _math and torch only (DESIGN.md)
    "baselines": 2,  # control variates
    "latents": 2,  # plug-in latent models
    "infoplane": 2,  # the information-plane tracker: may use mi and hsic
    "losses": 3,  # the estimators
    "diagnostics": 4,  # gradient statistics of losses
    "evaluate": 4,  # IWAE_K evaluation
    "step": 4,  # the captured training step
    "training": 5,  # the training loop (fit)
    "fit": 5,  # the training loop's former name
    "lightning": 6,  # the Lightning adapter
    "testing": 8,  # the shipped test kit: may import anything, nothing imports it
    "demo": 8,  # the main job: a client of the public API
}
ROOT_LAYER = 7  # vaekit/__init__.py, the package root that re-exports the public names


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
    return ROOT_LAYER if part is None else LAYERS[part]


def _parts(root: Path) -> set[str]:
    """The top-level parts of a package directory: its subpackages and its modules but __init__."""
    modules = {p.stem for p in root.glob("*.py") if p.name != "__init__.py"}
    packages = {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return modules | packages


def _undeclared(root: Path) -> set[str]:
    return _parts(root) - set(LAYERS)


IDS = [_module_name(p) for p in MODULES]


def test_there_are_modules_to_check():
    assert {"vaekit._math", "vaekit.models", "vaekit.losses.base", "vaekit.losses.vimco"} <= set(IDS)


def test_every_part_declares_its_layer():
    missing = _undeclared(ROOT)
    assert not missing, (
        f"vaekit part(s) {sorted(missing)} have no layer: add each to LAYERS in tests/test_imports.py "
        "(what it may import decides its layer; see DESIGN.md, Layout)"
    )


def test_an_undeclared_part_fails(tmp_path):
    pkg = tmp_path / "vaekit"
    (pkg / "newfamily").mkdir(parents=True)
    (pkg / "newfamily" / "__init__.py").write_text("")
    for name in ("__init__.py", "models.py", "newtool.py"):
        (pkg / name).write_text("")
    assert _parts(pkg) == {"models", "newfamily", "newtool"}
    assert _undeclared(pkg) == {"newfamily", "newtool"}


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
        if own == "testing" or other == own:
            continue
        assert _layer(other) < _layer(own), (
            f"{name} (layer {_layer(own)}) imports {imported} (layer {_layer(other)}): a module imports only "
            "from lower layers (LAYERS in tests/test_imports.py; the package root is layer "
            f"{ROOT_LAYER})"
        )


def _private_imports(path: Path, root: Path | None = None) -> list[str]:
    """``module.name`` for every private name (``_x``, not ``__x__``) a file imports from another vaekit file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = _module_name(path, root)
    found, aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = _imports_of(node, path, root)
            mod = names[0]
            if not (mod == "vaekit" or mod.startswith("vaekit.")) or mod == own:
                continue
            for alias in node.names:
                if _private(alias.name) and not _is_module(f"{mod}.{alias.name}", root):
                    found.append(f"{mod}.{alias.name}")
                if _is_module(f"{mod}.{alias.name}", root):
                    aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "vaekit" or alias.name.startswith("vaekit."):
                    aliases.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):  # module._name through an imported vaekit module
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                found.append(ast.unparse(node))
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def _imports_of(node: ast.ImportFrom, path: Path, root: Path | None) -> list[str]:
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    if node.level:
        base = package.split(".")
        base = base[: len(base) - (node.level - 1)]
        return [".".join(base + ([node.module] if node.module else []))]
    return [node.module or ""]


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_no_private_name_is_imported_across_files(path):
    found = _private_imports(path)
    assert not found, (
        f"{_module_name(path)} uses private name(s) of other vaekit files: {found}; make them public (or move "
        "them into the file that uses them): DESIGN.md, no private name is imported across files"
    )


def test_the_private_import_check_catches_each_form(tmp_path):
    pkg = tmp_path / "vaekit"
    (pkg / "latents").mkdir(parents=True)
    for name in ("__init__.py", "_math.py", "latents/__init__.py", "latents/layer.py"):
        (pkg / name).write_text("")
    (pkg / "latents" / "infnet.py").write_text(
        "from vaekit._math import logmeanexp\n"  # a public name of the private-named _math module: fine
        "from vaekit import _math\n"  # the module itself: fine
        "from .layer import _helper, public\n"
        "import vaekit.latents.layer as lay\n"
        "x = lay._other(1) + _math._tiny + lay.__name__.count('.')\n"
    )
    found = _private_imports(pkg / "latents" / "infnet.py", root=pkg)
    assert sorted(found) == ["_math._tiny", "lay._other", "vaekit.latents.layer._helper"]


def _is_module(dotted: str, root: Path | None = None) -> bool:
    path = (root or ROOT).parent / Path(*dotted.split("."))
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
