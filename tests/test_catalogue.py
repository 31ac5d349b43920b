"""The catalogue's contract, checked over every registered experiment.

Each catalogue module is one ID in a folder per SPEC section and declares the same
names; every config field is typed, checked and settable with ``--set``; the quick
run through the library writes every figure (with its data and a caption) and a
results.json holding the effective config.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from jaxopt_course import app, experiments

from jaxopt_course.experiments import config as cfg
from jaxopt_course.results import load_dataset, to_jsonable

IDS = [e.id for e in experiments.all_experiments()]
PACKAGE = Path(experiments.__file__).parent


@pytest.mark.parametrize("exp_id", IDS)
def test_module_layout(exp_id):
    exp = experiments.get(exp_id)
    path = Path(__import__(exp.module, fromlist=["_"]).__file__)
    assert path.parent.parent == PACKAGE, "one folder per SPEC section"
    assert re.fullmatch(rf"{exp_id.lower()}_[a-z0-9_]+\.py", path.name), "the file is named after its ID"
    assert len(path.read_text().splitlines()) <= 360, f"{path.name} is too long for one reader"
    assert exp.description and exp.captions


def test_no_underscore_module_holds_experiment_logic():
    hidden = [p for p in PACKAGE.rglob("_*.py") if p.name != "__init__.py" and "_legacy" not in p.parts]
    assert hidden == []


@pytest.mark.parametrize("exp_id", IDS)
def test_every_field_is_documented_checked_and_settable(exp_id):
    exp = experiments.get(exp_id)
    quick = exp.config.quick()
    for spec in cfg.field_specs(exp.config):
        assert spec.help.strip(), f"{spec.name} has no meaning"
        value = getattr(quick, spec.name)
        request = app.Request(sets=(f"{spec.name}={cfg.format_value(value)}",))
        config, loops = app.configure(exp, request, quick=False)
        assert loops == {}
        assert getattr(config, spec.name) == value, spec.name
        assert to_jsonable(config)[spec.name] == to_jsonable(value), spec.name
    with pytest.raises(ValueError, match="no field 'no_such_field'"):
        app.configure(exp, app.Request(sets=("no_such_field=1",)), quick=True)


@pytest.mark.parametrize("exp_id", IDS)
def test_vmapped_fields_accept_a_tuple_of_values(exp_id):
    exp = experiments.get(exp_id)
    for spec in cfg.field_specs(exp.config):
        if spec.sweep == cfg.VMAP:
            value = getattr(exp.config.quick(), spec.name)
            first = value[0] if isinstance(value, tuple) else value
            config, loops = app.configure(exp, app.Request(sweeps=(f"{spec.name}={first},{first}",)), quick=True)
            assert getattr(config, spec.name) == (first, first) and loops == {}
            assert cfg.axes(config, spec.name)[spec.name].shape == (2,)


@pytest.mark.parametrize("exp_id", IDS)
def test_quick_run_writes_figures_data_captions_and_effective_config(exp_id, quick_run):
    results, out_dir = quick_run(exp_id)
    exp = experiments.get(exp_id)
    assert isinstance(results.data, xr.Dataset) and results.data.data_vars
    record = json.loads((out_dir / "results.json").read_text())
    assert record["id"] == exp_id and record["quick"] is True
    assert record["config"] == to_jsonable(exp.config.quick())
    assert isinstance(record["metrics"], dict) and record["metrics"]
    assert all(isinstance(v, str) and "diverged" in v for v in record["diverged"].values())
    assert record["figures"]
    for name in record["figures"]:
        png = out_dir / name
        assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
        assert png.with_suffix(".npz").exists(), f"{name} has no data beside it"
        assert exp.captions.get(png.stem), f"{name} has no caption"
    saved = load_dataset(out_dir / "data.npz")
    assert set(saved.data_vars) == set(results.data.data_vars)
    for name, var in results.data.data_vars.items():
        assert saved[name].dims == var.dims
        np.testing.assert_array_equal(saved[name].values, var.values)
    assert not list(out_dir.rglob("*.tmp")) and not (out_dir / ".chunks").exists()
