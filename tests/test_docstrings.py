"""The examples in hairfx's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import hairfx
from conftest import needs_torch, needs_train

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(hairfx.__path__, prefix="hairfx.") if info.name != "hairfx.__main__"
)
#: The modules that cannot be imported without an extra: skipped where it is not installed.
EXTRAS = {"hairfx.model": needs_torch, "hairfx.training.train": needs_train}


@pytest.mark.parametrize("name", [pytest.param(name, marks=EXTRAS.get(name, ())) for name in MODULES])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {name} failed (output above)"
