"""A head's hyperparameters: the valid names, and values made the type of their default without loss.

Values come from Python, from a saved head's config.json, or from the command line (``head.NAME=VALUE``,
parsed as a YAML scalar, so usually typed already; ``1e-3`` stays a string under YAML 1.1). A value is
converted to its default's type only where nothing is lost: ``30.0`` and ``"2e4"`` are fine for an integer,
``30.5`` is refused rather than truncated; ``"1e-3"`` is a float; ``"true"`` / ``"false"`` are booleans;
``"[500, 500]"`` or ``"500,500"`` a list of integers. Anything else is a ValueError that names the head, the
hyperparameter, the expected type and the value given.
"""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
from typing import Any

import numpy as np

TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def signature_defaults(cls: type) -> dict[str, Any]:
    """Keyword arguments of ``cls.__init__`` with their defaults, besides ``k`` and ``seed``."""
    skip = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if name not in ("self", "k", "seed") and p.kind not in skip}


def check_names(method: str, valid: dict[str, Any] | set[str], names: Any) -> None:
    """Refuse a name that is not a hyperparameter of ``method``, suggesting the closest valid one."""
    unknown = [name for name in names if name not in valid]
    if not unknown:
        return
    choices = sorted(valid)
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(str(name), choices, n=1)
        parts.append((repr(name), f"did you mean {close[0]!r}?" if close else ""))
    if len(parts) == 1:
        name, hint = parts[0]
        head = f"unknown hyperparameter {name} for {method}; " + (f"{hint} " if hint else "")
    else:
        listed = ", ".join(f"{name} ({hint})" if hint else name for name, hint in parts)
        head = f"unknown hyperparameters {listed} for {method}; "
    raise ValueError(f"{head}valid: {', '.join(choices)}")


def _refuse(method: str, name: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{method} {name} must be {expected}, got {value!r} ({type(value).__name__})")


def as_int(method: str, name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise _refuse(method, name, "an integer", value)
    if isinstance(value, numbers.Integral):
        return int(value)
    number = value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                raise _refuse(method, name, "an integer", value) from None
    if isinstance(number, numbers.Real) and math.isfinite(number) and float(number).is_integer():
        return int(number)
    if isinstance(number, numbers.Real) and math.isfinite(number):
        raise ValueError(f"{method} {name} must be an integer, got {value!r}; a fraction is not rounded")
    raise _refuse(method, name, "an integer", value)


def as_float(method: str, name: str, value: Any) -> float:
    number = None
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
    if number is None or not math.isfinite(number):
        raise _refuse(method, name, "a finite number", value)
    return number


def as_bool(method: str, name: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
        return value.strip().lower() in TRUE
    raise _refuse(method, name, "true or false", value)


def as_int_list(method: str, name: str, value: Any) -> list[int]:
    items = value
    if isinstance(value, str):
        text = value.strip().removeprefix("[").removesuffix("]").strip()
        items = [part.strip() for part in text.split(",")] if text else []
    if not isinstance(items, (list, tuple)):
        raise _refuse(method, name, "a list of integers such as [500, 500, 2000]", value)
    return [as_int(method, f"{name} entry", item) for item in items]


def coerce(method: str, name: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default`` (bool, int, float, str or a list of ints), or a ValueError."""
    if isinstance(default, bool):
        return as_bool(method, name, value)
    if isinstance(default, int):
        return as_int(method, name, value)
    if isinstance(default, float):
        return as_float(method, name, value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise _refuse(method, name, "a string", value)
        return value
    if isinstance(default, (list, tuple)):
        return as_int_list(method, name, value)
    raise TypeError(f"{method} {name}: no conversion for a default of type {type(default).__name__}")
