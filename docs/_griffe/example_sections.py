"""Griffe extension for the API reference: read a Google-style ``Example:`` section as ``Examples:``.

vaekit's docstrings end with a runnable doctest under ``Example:`` (singular, as Napoleon and
the Google style guide allow). Griffe parses only ``Examples:`` as doctest code and renders
``Example:`` as an admonition of plain Markdown, where ``>>>`` lines lose their formatting and
outputs like ``[2.0, 4.0]`` read as broken reference links. Renaming the heading fixes both.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", flags=re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rewrite ``Example:`` headings to ``Examples:`` in every docstring griffe loads."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
