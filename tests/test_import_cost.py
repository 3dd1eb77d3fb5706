"""``import vaekit`` stays light: it must not pull in torch's compiler stack or the optional packages.

Measured with ``python -X importtime -c "import vaekit"`` (2 shared CPU cores): torch._dynamo, which
``@torch.compiler.disable`` imports when a module defining a decorated function is imported, was
about half of vaekit's import time. The decorated functions now import it at their first call.
"""

import subprocess
import sys

HEAVY = ("torch._dynamo", "torch._inductor", "sklearn", "scipy", "matplotlib", "lightning")  # (torch itself loads tqdm)


def test_import_vaekit_does_not_load_heavy_modules():
    code = f"import sys, vaekit; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "", f"import vaekit loaded: {out.stdout.strip()}"
