"""Modules that moved: their old paths keep working, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def moved(old: str, new: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` that serves names from ``new`` and warns once per name."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(importlib.import_module(new), name)
        warnings.warn(
            f"{old}.{name} moved to {new}.{name}; the old path will be removed "
            "in version 1.0.",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__
