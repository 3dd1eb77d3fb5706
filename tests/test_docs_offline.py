"""The documentation site renders its math and styles without network access.

The site bundles KaTeX (docs/assets/katex, MIT licence beside it) and uses system fonts; mkdocs.yml
may name no remote script or stylesheet. (docs/_scripts/check_math.js checks, with node, that every
formula of a built site parses with the bundled KaTeX: 176 of 176 when it was added.)
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

yaml = pytest.importorskip("yaml")


def _config():
    text = (ROOT / "mkdocs.yml").read_text()
    text = re.sub(r"!!python/\S+", "", text)  # mkdocs tags that safe_load does not know
    return yaml.safe_load(text)


def test_no_remote_scripts_styles_or_fonts():
    config = _config()
    assets = config.get("extra_javascript", []) + config.get("extra_css", [])
    assert assets, "the site must bundle its math renderer"
    for asset in assets:
        name = asset if isinstance(asset, str) else asset["path"]
        assert not re.match(r"(?i)^(https?:)?//", name), f"{name} is fetched from the network"
        assert (DOCS / name).is_file(), f"{name} is named in mkdocs.yml but missing from docs/"
    assert config["theme"].get("font") is False, "Material loads Google Fonts unless theme.font is false"


def test_the_bundled_katex_has_its_fonts():
    css = (DOCS / "assets" / "katex" / "katex.min.css").read_text()
    woff2 = set(re.findall(r"url\((fonts/[^)]+\.woff2)\)", css))
    assert len(woff2) == 20
    missing = [f for f in woff2 if not (DOCS / "assets" / "katex" / f).is_file()]
    assert not missing, f"fonts named by katex.min.css but not bundled: {missing}"
    assert (DOCS / "assets" / "katex" / "LICENSE").is_file()
