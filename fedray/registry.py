"""Registries are plain dicts from a name to an `Entry`; users add their own as `module:attr`."""

from __future__ import annotations

import dataclasses
import importlib
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NoParams:
    """Parameter set of an entry that takes none."""


@dataclass(frozen=True)
class Entry:
    """A registered component: the callable that builds or runs it and its parameter dataclass."""

    fn: Callable[..., Any]
    params: type = NoParams


def is_plugin(name: str) -> bool:
    """Tell whether `name` points at user code (`package.module:attribute`)."""
    return ":" in name


def load_plugin(name: str) -> Any:
    """Import `module:attr` and return the attribute; raise ValueError saying what failed."""
    module_name, _, attr = name.partition(":")
    if not module_name or not attr:
        raise ValueError(f"expected 'module:attribute', got {name!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"cannot import module {module_name!r} ({exc}); is it on PYTHONPATH?"
        ) from exc
    except Exception as exc:  # the user's module itself is broken: say so, do not crash
        raise ValueError(
            f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from None


def lookup(registry: dict[str, Entry], name: str) -> Entry:
    """Return the entry for `name`: a registered name, or a `module:attr` plugin without params."""
    if is_plugin(name):
        return Entry(load_plugin(name), params=dict)
    if name not in registry:
        raise KeyError(f"unknown name {name!r}; expected one of: {', '.join(sorted(registry))}")
    return registry[name]


# Bounds a parameter dataclass field may carry in its metadata, and how each reads.
BOUNDS = {
    "min": (operator.ge, ">="),
    "max": (operator.le, "<="),
    "gt": (operator.gt, ">"),
    "lt": (operator.lt, "<"),
}


def bound_problems(params: object, section: str) -> list[str]:
    """Each field of a parameter dataclass that is not finite or breaks its metadata bounds,
    as `section.field must be >= 0, got -1`. The scenario loader checks the same bounds;
    this catches parameters built in Python."""
    problems = []
    for spec in dataclasses.fields(params):
        value = getattr(params, spec.name)
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{section}.{spec.name} must be finite, got {value}")
            continue
        for key, (holds, text) in BOUNDS.items():
            if value is not None and key in spec.metadata and not holds(value, spec.metadata[key]):
                problems.append(
                    f"{section}.{spec.name} must be {text} {spec.metadata[key]}, got {value}"
                )
    return problems
