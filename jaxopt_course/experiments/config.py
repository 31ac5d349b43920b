"""Experiment configs that a user can change: typed fields with a meaning, a check and a sweep mode.

A config is a frozen dataclass deriving from ``ExperimentConfig`` whose fields are
declared with ``param``::

    @dataclass(frozen=True)
    class Config(ExperimentConfig):
        step_scale: float = param(0.1, "step size gamma = step_scale / beta", check=positive, vmap=True)
        seeds: int = param(100, "SGD runs (random index sequences) per schedule", check=positive_int)

        @classmethod
        def quick(cls):
            return cls(seeds=16)

Fields are checked when the config is made (``ValueError`` naming the field), so a
library user and the command line get the same one-line message. Values come from
the command line (``--set FIELD=VALUE``, tuples comma-separated) or a TOML file
(``--config FILE``), parsed by the field's annotation.

Sweeps. A field with ``vmap=True`` enters the computation as an array value (a step
size, an alpha, a noise level): given a tuple of values it is one more axis of the
experiment's single ``jit(vmap(...))`` call, and the results carry it as a labelled
dimension (``axes`` below). Any other scalar field changes shapes or the program
(widths, epochs, batch sizes): sweeping it runs one compiled experiment per value.

Why a small layer over dataclasses + ``tomllib`` rather than OmegaConf, ml_collections
or tyro: configs are hashable frozen dataclasses handed to ``jax.jit`` as static
arguments and to ``functools.partial`` (OmegaConf turns tuples into lists and its
errors span several lines; ml_collections' ConfigDict is mutable and unhashable;
tyro builds a parser per dataclass where we need one ``--set`` syntax over 23
configs), and the standard library already reads TOML.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from jaxopt_course.validation import Check

VMAP = "vmap"  # an array value: a tuple of values is an axis of one vmapped call
LOOP = "loop"  # changes shapes or the program: a tuple of values is a loop of compiled calls


def param(default, help: str, *, check: Optional[Check] = None, vmap: bool = False):
    """A config field with a one-line meaning, a value check, and whether it can be vmapped."""
    if isinstance(default, list):
        default = tuple(default)
    return dataclasses.field(default=default, metadata={"help": help, "check": check, "vmap": vmap})


@dataclass(frozen=True)
class ExperimentConfig:
    """Base of every experiment's config: checks its fields when made; ``quick()`` gives a real, smaller run."""

    def __post_init__(self):
        for spec in field_specs(type(self)):
            value = getattr(self, spec.name)
            if isinstance(value, list):
                value = tuple(value)
                object.__setattr__(self, spec.name, value)
            spec.validate(value)

    @classmethod
    def quick(cls):
        """The quick (smaller but real) config; experiments override it."""
        return cls()

    @classmethod
    def course(cls):
        """The course assignment's exact settings (the ``course`` preset); experiments override it."""
        return cls()


PRESETS = ("default", "course")  # named starting points of a config; --quick shrinks either


def preset_changes(config_cls: type, name: str) -> dict:
    """{field: value} that preset ``name`` sets differently from the defaults (empty for 'default')."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; the presets are: {', '.join(PRESETS)}")
    if name == "default":
        return {}
    chosen, base = getattr(config_cls, name)(), config_cls()
    return {s.name: getattr(chosen, s.name) for s in field_specs(config_cls)
            if getattr(chosen, s.name) != getattr(base, s.name)}


def preset(config_cls: type, name: str = "default", *, quick: bool = False):
    """The config of preset ``name``; with ``quick``, the quick config's values win where both set a field.

    ``--quick`` is about size (seeds, steps, epochs), a preset about what is run, so
    ``--quick --preset course`` runs the course's settings at the quick sizes.
    """
    changes = preset_changes(config_cls, name)
    if not quick:
        return getattr(config_cls, name)() if changes else config_cls()
    small = config_cls.quick()
    shrunk = {s.name for s in field_specs(config_cls) if getattr(small, s.name) != s.default}
    keep = {k: v for k, v in changes.items() if k not in shrunk}
    return dataclasses.replace(small, **keep) if keep else small


@dataclass(frozen=True)
class FieldSpec:
    """What ``show`` prints of a field and what ``--set`` needs to parse and check it."""

    name: str
    type: Any  # the resolved annotation
    default: Any
    help: str
    check: Optional[Check]
    vmap: bool

    @property
    def sweep(self) -> Optional[str]:
        """'vmap', 'loop', or None (a field that already holds a list of values)."""
        if self.vmap:
            return VMAP
        return None if _is_tuple(self.type) else LOOP

    @property
    def type_name(self) -> str:
        """The annotation as a user reads it: float, int, tuple[float, ...], str or None."""
        text = _type_name(self.type)
        return f"{text} or tuple[{text}, ...]" if self.vmap else text

    def validate(self, value) -> None:
        """Type and value check; ValueError naming the field."""
        values = value if (self.vmap and isinstance(value, tuple)) else (value,)
        if self.vmap and isinstance(value, tuple) and not value:
            raise ValueError(f"{self.name} needs at least one value")
        for v in values:
            _check_type(self.name, self.type, v)
            if self.check is not None:
                self.check(self.name, v)

    def parse(self, text: str):
        """The value of ``--set name=text`` (comma-separated for tuples and vmapped axes)."""
        if self.vmap and "," in text:
            return tuple(_parse(self.name, self.type, t.strip()) for t in text.split(","))
        return _parse(self.name, self.type, text.strip())

    def parse_values(self, text: str) -> tuple:
        """The values of ``--sweep name=V1,V2,...``: each parsed as one value of this field."""
        if self.sweep is None:
            raise ValueError(f"{self.name} already holds a list of values; use --set {self.name}=V1,V2,...")
        return tuple(_parse(self.name, self.type, t.strip()) for t in text.split(","))

    def coerce(self, value):
        """A TOML value as this field's Python value (lists -> tuples, ints -> floats where a float is asked)."""
        if self.vmap and isinstance(value, list):
            return tuple(_coerce(self.name, self.type, v) for v in value)
        return _coerce(self.name, self.type, value)


@functools.cache
def field_specs(config_cls: type) -> tuple[FieldSpec, ...]:
    """Every field of a config class, in declaration order."""
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        meta = f.metadata
        if "help" not in meta:
            raise TypeError(f"{config_cls.__qualname__}.{f.name} is not declared with param(...)")
        out.append(FieldSpec(f.name, hints[f.name], f.default, meta["help"], meta["check"], meta["vmap"]))
    return tuple(out)


def spec_of(config_cls: type, name: str, exp_id: str = "") -> FieldSpec:
    """The field called ``name``; ValueError naming the valid fields otherwise."""
    for spec in field_specs(config_cls):
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in field_specs(config_cls))
    where = f"{exp_id} has" if exp_id else "the config has"
    raise ValueError(f"{where} no field {name!r}; its fields are: {known}")


def replace(config, exp_id: str = "", **values):
    """dataclasses.replace with unknown names refused in one line (naming the valid fields)."""
    for name in values:
        spec_of(type(config), name, exp_id)
    try:
        return dataclasses.replace(config, **values)
    except ValueError as err:
        raise ValueError(f"{exp_id}: {err}" if exp_id else str(err)) from None


def parse_assignments(config_cls: type, items, exp_id: str = "", sweep: bool = False) -> dict:
    """{'name': value} from ['name=text', ...] (``--set``), or {'name': (values...)} with ``sweep`` (``--sweep``)."""
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"expected FIELD=VALUE, got {item!r}")
        spec = spec_of(config_cls, name.strip(), exp_id)
        try:
            out[name.strip()] = spec.parse_values(text) if sweep else spec.parse(text)
        except ValueError as err:
            raise ValueError(f"{exp_id}: {err}" if exp_id else str(err)) from None
    return out


def read_toml(path: Path) -> dict:
    """The TOML file's contents; ValueError naming the file if it cannot be read or parsed."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as err:
        raise ValueError(f"cannot read config file {path}: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config file {path} is not valid TOML: {err}") from None


def toml_values(config_cls: type, table: dict, exp_id: str) -> dict:
    """Field values for ``exp_id`` from a TOML document: its top-level keys, then its ``[ID]`` table."""
    values = {k: v for k, v in table.items() if not isinstance(v, dict)}
    for key, sub in table.items():
        if isinstance(sub, dict) and key.upper() == exp_id.upper():
            values.update(sub)
    return {name: spec_of(config_cls, name, exp_id).coerce(v) for name, v in values.items()}


def axes(config, *names: str) -> dict[str, np.ndarray]:
    """{name: 1-D array of its values} for vmapped fields (a single value is an axis of length 1)."""
    out = {}
    for name in names:
        spec = spec_of(type(config), name)
        if not spec.vmap:
            raise ValueError(f"{name} is not a vmapped field")
        value = getattr(config, name)
        out[name] = np.asarray(value if isinstance(value, tuple) else (value,))
    return out


def loop_sweeps(config_cls: type, sweeps: dict) -> dict:
    """The swept fields that must run as a loop of compiled calls (the others are vmapped)."""
    return {n: v for n, v in sweeps.items() if spec_of(config_cls, n).sweep == LOOP}


def format_value(value) -> str:
    """A field value in ``--set`` syntax (tuples comma-separated, None as 'none'); parse(format_value(v)) == v."""
    if isinstance(value, tuple):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return "none" if value is None else str(value)


def describe(config_cls: type) -> list[dict]:
    """One row per field: name, type, default, quick and course values, sweep mode, meaning (what ``show`` prints)."""
    quick, course = config_cls.quick(), config_cls.course()
    return [{"name": s.name, "type": s.type_name, "default": s.default, "quick": getattr(quick, s.name),
             "course": getattr(course, s.name), "sweep": s.sweep or "-", "help": s.help}
            for s in field_specs(config_cls)]


# ----------------------------------------------------------------------------- types


def _optional_of(tp):
    """T for Optional[T] (T | None), else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _is_tuple(tp) -> bool:
    inner = _optional_of(tp)
    return typing.get_origin(inner if inner is not None else tp) is tuple


def _tuple_items(tp) -> tuple[Any, Optional[int]]:
    """(item type, fixed length or None) of tuple[T, ...] / tuple[T, T]."""
    args = typing.get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        return args[0], None
    return args[0], len(args)


def _type_name(tp) -> str:
    inner = _optional_of(tp)
    if inner is not None:
        return f"{_type_name(inner)} or none"
    if typing.get_origin(tp) is tuple:
        item, length = _tuple_items(tp)
        return f"tuple[{_type_name(item)}, ...]" if length is None else f"tuple[{', '.join([_type_name(item)] * length)}]"
    return getattr(tp, "__name__", str(tp))


def _a(tp) -> str:
    """'an int', 'a float': the type with its article."""
    text = _type_name(tp)
    return f"{'an' if text[0] in 'aeiou' else 'a'} {text}"


def _check_type(name: str, tp, value) -> None:
    """TypeError-free type check: ValueError naming the field and the expected type."""
    inner = _optional_of(tp)
    if inner is not None:
        if value is not None:
            _check_type(name, inner, value)
        return
    if typing.get_origin(tp) is tuple:
        item, length = _tuple_items(tp)
        if not isinstance(value, tuple) or (length is not None and len(value) != length):
            raise ValueError(f"{name} must be {_a(tp)}, got {value!r}")
        for v in value:
            _check_type(name, item, v)
        return
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }.get(tp, lambda v: True)(value)
    if not ok:
        raise ValueError(f"{name} must be {_a(tp)}, got {value!r}")


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _parse(name: str, tp, text: str):
    """The value of ``text`` for annotation ``tp``; ValueError naming the field otherwise."""
    inner = _optional_of(tp)
    if inner is not None:
        return None if text.lower() in ("none", "null", "") else _parse(name, inner, text)
    if typing.get_origin(tp) is tuple:
        item, _ = _tuple_items(tp)
        return tuple(_parse(name, item, t.strip()) for t in text.split(",")) if text else ()
    try:
        if tp is bool:
            if text.lower() in _TRUE + _FALSE:
                return text.lower() in _TRUE
            raise ValueError
        if tp is int:
            number = float(text) if any(c in text.lower() for c in ".e") else int(text)
            if number != int(number):
                raise ValueError
            return int(number)
        if tp is float:
            return float(text)
    except (ValueError, OverflowError):
        raise ValueError(f"{name} must be {_a(tp)}, got {text!r}") from None
    return text


def _coerce(name: str, tp, value):
    """A TOML value as annotation ``tp`` asks (lists -> tuples, ints -> floats)."""
    inner = _optional_of(tp)
    if inner is not None:
        return None if value is None else _coerce(name, inner, value)
    if typing.get_origin(tp) is tuple and isinstance(value, list):
        item, _ = _tuple_items(tp)
        return tuple(_coerce(name, item, v) for v in value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    _check_type(name, tp, value)
    return value
