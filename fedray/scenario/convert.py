"""Turn plain YAML data into frozen dataclasses, collecting every problem instead of the first.

Every problem reads `path: message (got X; expected Y)`. A field's bounds live in its
metadata (`min`, `max`, `gt`, `lt`); a section chosen by a name (a model `type`, a strategy
`name`) declares `__tag__ = (key, registry)` and its other keys are validated against the
parameter dataclass registered under that name.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Literal, Union

from fedray.registry import BOUNDS, is_plugin, load_plugin

MISSING = object()
INT64 = (-(2**63), 2**63 - 1)


class Problems:
    """Collects `path: message (got X; expected Y)` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, message: str, got: Any = MISSING, expected: str | None = None) -> None:
        detail = []
        if got is not MISSING:
            detail.append(f"got {_show(got)}")
        if expected:
            detail.append(f"expected {expected}")
        suffix = f" ({'; '.join(detail)})" if detail else ""
        self.lines.append(f"{path or '<scenario>'}: {message}{suffix}")


def _show(value: Any) -> str:
    text = repr(value)  # cut in the middle: a long file path keeps its file name
    return text if len(text) <= 80 else text[:40] + "..." + text[-37:]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def convert(tp: Any, value: Any, path: str, problems: Problems) -> Any:
    """Return `value` converted to type `tp`, or MISSING after recording why it cannot be."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return build_dataclass(tp, value, path, problems)
    if origin in (Union, types.UnionType):
        for alt in typing.get_args(tp):
            trial = Problems()
            out = convert(alt, value, path, trial)
            if not trial.lines:
                return out
        problems.add(path, "wrong type", value, _describe(tp))
        return MISSING
    if origin is Literal:
        if value in typing.get_args(tp) and type(value) is not bool:
            return value
        problems.add(path, "not a valid choice", value, _describe(tp))
        return MISSING
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            problems.add(path, "wrong type", value, _describe(tp))
            return MISSING
        items = [
            convert(typing.get_args(tp)[0], v, f"{path}[{i}]", problems)
            for i, v in enumerate(value)
        ]
        return MISSING if any(i is MISSING for i in items) else tuple(items)
    return _scalar(tp, value, path, problems)


def _scalar(tp: Any, value: Any, path: str, problems: Problems) -> Any:
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        type(None): value is None,
    }.get(tp)
    if ok is None:
        raise TypeError(f"scenario schema uses unsupported type {tp!r} at {path}")
    if not ok:
        problems.add(path, "wrong type", value, _describe(tp))
        return MISSING
    if tp is int and not INT64[0] <= value <= INT64[1]:  # numpy, Arrow and torch hold int64
        problems.add(path, "out of range", value, "an integer that fits in 64 bits")
        return MISSING
    if tp is float and isinstance(value, int) and abs(value) > 1e308:
        problems.add(path, "out of range", value, "a finite number")
        return MISSING
    return float(value) if tp is float else value


def _check_bounds(field: dataclasses.Field, value: Any, path: str, problems: Problems) -> None:
    meta = field.metadata
    if isinstance(value, tuple):  # a list field's bounds hold for each item
        for i, item in enumerate(value):
            _check_bounds(field, item, f"{path}[{i}]", problems)
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if isinstance(value, float) and not math.isfinite(value):  # .inf / .nan in YAML
        problems.add(path, "not a finite number", value, "a finite number")
        return
    for key, (holds, text) in BOUNDS.items():
        if key in meta and not holds(value, meta[key]):
            problems.add(path, "out of range", value, f"{text} {meta[key]}")


def unknown_key(path: str, key: Any, known: list[str], problems: Problems) -> None:
    """Record an unknown key with the valid ones and the closest match."""
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    plain = isinstance(key, str) and key.isprintable() and key and not any(c.isspace() for c in key)
    name = key if plain else repr(key)  # a key with a newline must not break the line
    problems.add(_join(path, name), f"unknown key{hint}", key, "one of " + ", ".join(known))


def build_dataclass(cls: type, value: Any, path: str, problems: Problems) -> Any:
    """Build dataclass `cls` from mapping `value`; defaults fill missing keys."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        problems.add(path, "wrong type", value, "a mapping")
        return MISSING
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    tag = getattr(cls, "__tag__", None)
    tag_params = None
    if tag is not None:
        value, tag_params = _split_tagged(cls, value, path, problems)
    for key in value:
        if key not in fields or (tag is not None and key == "params"):
            unknown_key(path, key, sorted(k for k in fields if k != "params"), problems)
    kwargs, failed = {}, False
    for name, field in fields.items():
        if name == "params" and tag is not None:
            kwargs[name] = tag_params
            failed |= tag_params is MISSING
            continue
        if name not in value and dataclasses.is_dataclass(hints[name]):
            value = {**value, name: {}}  # a missing section is built from {} so its tag resolves
        if name not in value:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                problems.add(
                    _join(path, name), "required key is missing", expected=_describe(hints[name])
                )
                failed = True
            continue
        out = convert(hints[name], value[name], _join(path, name), problems)
        if out is MISSING:
            failed = True
            continue
        _check_bounds(field, out, _join(path, name), problems)
        kwargs[name] = out
    return MISSING if failed else cls(**kwargs)


def _split_tagged(cls: type, value: dict, path: str, problems: Problems):
    """Split a tagged section into its own keys and the chosen entry's validated parameters."""
    key, registry = cls.__tag__
    own = {f.name for f in dataclasses.fields(cls)} - {"params"}
    name = value.get(key, next(f.default for f in dataclasses.fields(cls) if f.name == key))
    rest = {k: v for k, v in value.items() if k not in own}
    mine = {k: v for k, v in value.items() if k in own}
    if not isinstance(name, str):
        return mine, MISSING  # the tag itself is reported as a wrong type
    if is_plugin(name) and not getattr(registry, "closed", False):
        try:
            load_plugin(name)
        except ValueError as exc:
            problems.add(_join(path, key), str(exc), name, "an importable 'module:attribute'")
            return mine, MISSING
        return mine, dict(rest)
    if name not in registry:
        close = difflib.get_close_matches(name, list(registry), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        closed = getattr(registry, "closed", False)
        choices = ", ".join(sorted(registry)) + ("" if closed else ", or 'module:attribute'")
        problems.add(_join(path, key), f"unknown name{hint}", name, "one of " + choices)
        return mine, MISSING
    params_cls = registry[name].params
    params_fields = sorted(f.name for f in dataclasses.fields(params_cls))
    for extra in [k for k in rest if k not in params_fields]:
        known = sorted(own) + params_fields
        unknown_key(path, extra, known, problems)
        rest.pop(extra)
    return mine, build_dataclass(params_cls, rest, path, problems)


def to_plain(obj: Any) -> Any:
    """Return dataclasses as nested dicts, tagged sections flattened back as in the YAML."""
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.name == "params" and hasattr(type(obj), "__tag__"):
                out.update(to_plain(value) if value is not None else {})
            else:
                out[f.name] = to_plain(value)
        return out
    if isinstance(obj, (tuple, list)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj
