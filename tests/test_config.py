"""Config fields: parsing by annotation, checks, TOML tables, vmapped axes, what ``show`` lists."""

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest

from jaxopt_course import validation as v
from jaxopt_course.experiments import config as cfg
from jaxopt_course.experiments.config import ExperimentConfig, param


@dataclass(frozen=True)
class Toy(ExperimentConfig):
    """A config with one field of every supported kind."""

    steps: int = param(100, "number of steps", check=v.positive_int)
    lr: float = param(0.1, "step size", check=v.positive, vmap=True)
    names: tuple[str, ...] = param(("a", "b"), "names", check=v.each(v.one_of(("a", "b", "c"))))
    bounds: tuple[float, float] = param((-1.0, 1.0), "a range", check=v.increasing)
    flag: bool = param(False, "a switch")
    data_dir: Optional[str] = param(None, "a directory")

    @classmethod
    def quick(cls):
        return cls(steps=10)

    @classmethod
    def course(cls):
        return cls(steps=2000, flag=True)


def spec(name):
    return cfg.spec_of(Toy, name)


def test_values_parse_by_annotation():
    assert spec("steps").parse("1e5") == 100_000 and spec("steps").parse("2_000") == 2000
    assert spec("lr").parse("0.5") == 0.5 and spec("lr").parse("0.1, 0.2") == (0.1, 0.2)
    assert spec("names").parse("a,c") == ("a", "c") and spec("names").parse("") == ()
    assert spec("bounds").parse("-2,3") == (-2.0, 3.0)
    assert spec("flag").parse("yes") is True and spec("flag").parse("False") is False
    assert spec("data_dir").parse("none") is None and spec("data_dir").parse("/d") == "/d"
    for name, text in [("steps", "1.5"), ("steps", "ten"), ("lr", "fast"), ("flag", "maybe")]:
        with pytest.raises(ValueError, match=f"^{name} must be"):
            spec(name).parse(text)


def test_fields_are_checked_when_the_config_is_made():
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        Toy(steps=0)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        Toy(lr=(0.1, -0.1))
    with pytest.raises(ValueError, match="names must be one of a, b, c"):
        Toy(names=("a", "z"))
    with pytest.raises(ValueError, match="lo < hi"):
        Toy(bounds=(1.0, -1.0))
    with pytest.raises(ValueError, match="steps must be an int"):
        Toy(steps=2.0)
    assert Toy(names=["a"]).names == ("a",)  # lists become tuples: configs stay hashable
    hash(Toy(lr=(0.1, 0.2)))


def test_replace_names_the_valid_fields():
    with pytest.raises(ValueError, match=r"^X has no field 'nope'; its fields are: steps, lr, names"):
        cfg.replace(Toy(), "X", nope=1)
    assert cfg.replace(Toy(), "X", steps=5).steps == 5


def test_toml_top_level_keys_then_the_id_table():
    doc = {"steps": 7, "lr": 1, "X": {"lr": [0.1, 0.3], "names": ["c"]}, "Y": {"steps": 9}}
    values = cfg.toml_values(Toy, doc, "x")
    assert values == {"steps": 7, "lr": (0.1, 0.3), "names": ("c",)}
    assert cfg.toml_values(Toy, {"lr": 1}, "X") == {"lr": 1.0}
    with pytest.raises(ValueError, match="steps must be an int"):
        cfg.toml_values(Toy, {"steps": "many"}, "X")


def test_read_toml_reports_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3\n")
    with pytest.raises(ValueError, match="bad.toml is not valid TOML"):
        cfg.read_toml(bad)
    with pytest.raises(ValueError, match="cannot read config file"):
        cfg.read_toml(tmp_path / "missing.toml")


def test_axes_and_sweep_modes():
    np.testing.assert_array_equal(cfg.axes(Toy(lr=(0.1, 0.2)), "lr")["lr"], [0.1, 0.2])
    assert cfg.axes(Toy(), "lr")["lr"].shape == (1,)
    with pytest.raises(ValueError, match="not a vmapped field"):
        cfg.axes(Toy(), "steps")
    modes = {s.name: s.sweep for s in cfg.field_specs(Toy)}
    assert modes == {"steps": "loop", "lr": "vmap", "names": None, "bounds": None, "flag": "loop",
                     "data_dir": "loop"}
    with pytest.raises(ValueError, match="already holds a list"):
        cfg.parse_assignments(Toy, ["names=a"], "X", sweep=True)


def test_describe_lists_every_field():
    rows = cfg.describe(Toy)
    assert [r["name"] for r in rows] == ["steps", "lr", "names", "bounds", "flag", "data_dir"]
    steps = rows[0]
    assert steps == {"name": "steps", "type": "int", "default": 100, "quick": 10, "course": 2000, "sweep": "loop",
                     "help": "number of steps"}
    assert rows[1]["type"] == "float or tuple[float, ...]"
    assert rows[5]["type"] == "str or none"


def test_format_value_round_trips():
    for name, value in [("steps", 7), ("lr", 0.30000000000000004), ("lr", (0.1, 0.2)), ("names", ("a", "c")),
                        ("flag", True), ("data_dir", None), ("bounds", (-1.5, 2.0))]:
        assert spec(name).parse(cfg.format_value(value)) == value


def test_undeclared_fields_are_refused():
    @dataclass(frozen=True)
    class Bare(ExperimentConfig):
        steps: int = 3

    with pytest.raises(TypeError, match="not declared with param"):
        Bare()


def test_presets_compose_with_quick():
    assert cfg.preset_changes(Toy, "default") == {}
    assert cfg.preset_changes(Toy, "course") == {"steps": 2000, "flag": True}
    assert cfg.preset(Toy, "course") == Toy(steps=2000, flag=True)
    assert cfg.preset(Toy, "default", quick=True) == Toy(steps=10)
    # --quick sizes win where both set a field; the course's other settings stay
    assert cfg.preset(Toy, "course", quick=True) == Toy(steps=10, flag=True)
    with pytest.raises(ValueError, match="unknown preset 'nope'; the presets are: default, course"):
        cfg.preset(Toy, "nope")
