"""Declared solver parameters: a dataclass per solver, checked before anything runs.

A parameter is a dataclass field made by :func:`param`: a default plus the allowed range
(``low``/``high``, open or closed) or ``choices``; its type comes from the annotation (``int``,
``float``, ``bool``, ``str``, optionally ``| None`` where ``None`` means "chosen by the solver").
:func:`validate` turns user options (``-o KEY=VALUE`` or ``**options``) into an instance or raises
a one-line :class:`~protogen.errors.InputError`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from typing import Any

from protogen.errors import InputError


def param(default, *, low=None, high=None, low_open: bool = False, high_open: bool = False,
          choices: tuple | None = None, help: str = ""):
    """A solver parameter: ``default`` and what values are allowed (see the module doc)."""
    meta = {"low": low, "high": high, "low_open": low_open, "high_open": high_open,
            "choices": choices, "help": help}
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class NoParams:
    """A solver without tunable parameters."""


def _field_types(cls) -> dict[str, tuple[type, bool]]:
    """name -> (base type, None allowed), from the (string) annotations of ``cls``."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        args = typing.get_args(hint)
        optional = type(None) in args
        base = next((a for a in args if a is not type(None)), hint) if args else hint
        out[f.name] = (base, optional)
    return out


def _describe(f: dataclasses.Field) -> str:
    m = f.metadata
    if m.get("choices"):
        return "one of " + ", ".join(map(str, m["choices"]))
    parts = []
    if m.get("low") is not None:
        parts.append(f"{'>' if m['low_open'] else '>='} {m['low']}")
    if m.get("high") is not None:
        parts.append(f"{'<' if m['high_open'] else '<='} {m['high']}")
    return " and ".join(parts)


def _check_value(method: str, f: dataclasses.Field, base: type, optional: bool, value) -> Any:
    where = f"method {method!r}: option {f.name}"
    if value is None:
        if optional:
            return None
        raise InputError(f"{where} cannot be None")
    if base is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where} must be true or false, got {value!r}")
    elif base is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InputError(f"{where} must be an integer, got {value!r}")
        value = int(value)
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InputError(f"{where} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise InputError(f"{where} must be finite, got {value!r}")
    elif base is str:
        if not isinstance(value, str):
            raise InputError(f"{where} must be a string, got {value!r}")
    m = f.metadata
    if m.get("choices") and value not in m["choices"]:
        raise InputError(f"{where} must be {_describe(f)}, got {value!r}")
    low, high = m.get("low"), m.get("high")
    if (low is not None and (value < low or (m["low_open"] and value == low))) or (
            high is not None and (value > high or (m["high_open"] and value == high))):
        raise InputError(f"{where} must be {_describe(f)}, got {value!r}")
    return value


def validate(method: str, cls, options: dict) -> Any:
    """An instance of the parameter class ``cls`` from ``options``; one-line ``InputError`` for
    an unknown key (naming the valid ones), a wrong type or a value out of range."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in options if k not in fields]
    if unknown:
        valid = ", ".join(fields) if fields else "none"
        raise InputError(f"method {method!r} has no option {', '.join(map(repr, unknown))} "
                         f"(valid options: {valid})")
    types = _field_types(cls)
    values = {k: _check_value(method, fields[k], *types[k], v) for k, v in options.items()}
    return cls(**values)


def describe(cls) -> list[str]:
    """One line per parameter: ``name=default (allowed; help)``, for help texts."""
    lines = []
    for f in dataclasses.fields(cls):
        allowed = _describe(f)
        extra = "; ".join(x for x in (allowed, f.metadata.get("help", "")) if x)
        lines.append(f"{f.name}={f.default}" + (f" ({extra})" if extra else ""))
    return lines


def check_init(init, num: int, dim: int):
    """A solver's starting code: ``None``, or a (K, D) array returned with unit rows."""
    if init is None:
        return None
    import numpy as np

    from protogen.sphere import normalize

    init = np.asarray(init, dtype=np.float64)
    if init.shape != (num, dim):
        raise InputError(f"init has shape {init.shape}, expected {(num, dim)}")
    return normalize(init)
