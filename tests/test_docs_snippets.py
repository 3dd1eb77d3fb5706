"""Every ```python block of the documentation (docs/**/*.md) runs.

The blocks of one page run in order, in one namespace (as a reader pastes them into one session),
in a fresh temporary working directory, with the docs' own snippets deciding their sizes; so keep
them small (a few hundred steps on the digits). A new page joins automatically.

Markers, an HTML comment on the line directly above a block's opening fence (invisible on the site):

- ``<!-- docs-test: skip -->`` (optionally with a reason: ``<!-- docs-test: skip: needs torchrun -->``):
  the block is not run. For blocks that need what a test cannot have (several processes, a GPU,
  files of the user's) or are fragments on purpose.
- ``<!-- docs-test: file NAME.py -->``: the block is also written to NAME.py in the page's working
  directory, so later blocks can import it (``from my_estimator import ...``).
- ``<!-- docs-test: needs PACKAGE -->``: the block runs only where PACKAGE imports (an optional
  extra such as ``lightning``, which the test extra installs, so CI runs it).

After a page's blocks ran, every top-level ``test_*`` function they defined is called, so a page
that shows tests shows passing ones. Only ```python fences run; ```bash, ```text and others never do.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"^(?P<indent>[ \t]*)```python[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
MARKER = re.compile(
    r"<!--\s*docs-test:\s*(?P<what>skip|file\s+(?P<file>[\w./-]+\.py)|needs\s+(?P<needs>[\w.]+))\b[^>]*-->\s*$"
)


def blocks(text: str) -> list[tuple[int, str, str | None, bool]]:
    """``(line, code, file name or None, skipped)`` of every ```python block of a page, in order."""
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        above = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(above)
        indent = len(m.group("indent"))
        code = "\n".join(row[indent:] for row in m.group("body").splitlines())
        skipped = marker is not None and (
            marker.group("what") == "skip"
            or (marker.group("needs") is not None and importlib.util.find_spec(marker.group("needs")) is None)
        )
        out.append((line, code, marker.group("file") if marker else None, skipped))
    return out


PAGES = sorted(p for p in DOCS.rglob("*.md") if any(not skip for *_, skip in blocks(p.read_text())))


def test_the_docs_have_runnable_blocks_and_every_estimator_page_has_one():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert "index.md" in names
    estimator_pages = {p.relative_to(DOCS).as_posix() for p in (DOCS / "estimators").glob("*.md")}
    missing = estimator_pages - names - {"estimators/index.md"}
    assert not missing, f"estimator pages without a runnable python block: {sorted(missing)}"


def test_the_block_parser():
    page = (
        "text\n```python\nx = 1\n```\n<!-- docs-test: skip: needs torchrun -->\n```python\nboom\n```\n"
        "<!-- docs-test: file m.py -->\n```python\ny = 2\n```\n```bash\nrm -rf /\n```\n"
        "    ```python\n    z = 3\n    ```\n<!-- docs-test: needs no_such_package_xyz -->\n```python\nw\n```\n"
    )
    assert blocks(page) == [
        (2, "x = 1", None, False),
        (6, "boom", None, True),
        (10, "y = 2", "m.py", False),
        (16, "z = 3", None, False),
        (20, "w", None, True),
    ]


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(DOCS).as_posix() for p in PAGES])
def test_docs_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    torch.manual_seed(0)
    for line, code, file, skipped in blocks(page.read_text()):
        if skipped:
            continue
        if file is not None:
            (tmp_path / file).write_text(code + "\n")
        try:
            exec(compile(code, f"{page.relative_to(DOCS)}:{line}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"{page.relative_to(DOCS)}, block at line {line} failed: {err!r}") from err
    for name, fn in list(namespace.items()):
        if name.startswith("test_") and callable(fn):
            fn()
    for mod in [m for m, v in sys.modules.items() if str(getattr(v, "__file__", "") or "").startswith(str(tmp_path))]:
        del sys.modules[mod]  # a page's own modules (file markers) do not leak into the next page
