"""The version of vaekit: its one source (pyproject.toml reads it; vaekit.__version__ re-exports it)."""

__version__ = "0.1.0"
