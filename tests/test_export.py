"""jaxopt-course export: runs written by `run` read back as one tidy table, checked against their data.npz."""

import json
import sys

import numpy as np
import pandas as pd
import pytest

from jaxopt_course import cli, export
from jaxopt_course.results import load_dataset

P3_SMALL = ["run", "P3", "--quick", "--set", "degrees=3", "--set", "schedules=staircase", "--set", "seeds=3",
            "--set", "steps_per_point=40", "--set", "num_records=5", "--sweep", "step_scale=0.1,0.2"]  # vmapped
G4_LOOP = ["run", "G4", "--quick", "--sweep", "num_steps=40,60"]  # looped: two runs in G4/num_steps=...


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    assert cli.main(P3_SMALL + ["--out", str(root)]) == 0
    assert cli.main(G4_LOOP + ["--out", str(root)]) == 0
    return root


def _runs(root):
    return [(json.loads((p / "results.json").read_text()), load_dataset(p / "data.npz"))
            for p in export.find_runs(root)]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_csv_round_trip_has_one_row_per_recorded_value(out, capsys):
    assert cli.main(["export", str(out)]) == 0
    assert "export.csv: " in capsys.readouterr().out
    table = pd.read_csv(out / "export.csv")
    runs = _runs(out)
    assert len(runs) == 3  # P3 and two looped G4 runs
    assert len(table) == sum(v.size for _, ds in runs for v in ds.data_vars.values())
    assert list(table.columns[:2]) == ["experiment", "config_hash"]
    assert list(table.columns[-4:]) == ["seed", "step", "metric", "value"]
    assert {"step_scale", "num_steps"} <= set(table.columns)  # a vmapped coordinate, a looped config field
    assert not list(out.glob(".*.tmp"))  # written via a temp file, renamed
    for record, ds in runs:
        rows = table[table.config_hash == export.config_hash(record)]
        assert set(rows.experiment) == {record["id"]}
        assert len(rows) == sum(v.size for v in ds.data_vars.values())
    record, ds = next((r, d) for r, d in runs if r["id"] == "P3")
    rows = table[(table.experiment == "P3") & (table.metric == "gap")]
    assert rows.num_steps.isna().all() and set(rows.seed) == {0, 1, 2}
    for scale, seed, step in [(0.2, 1, int(ds.step[-1])), (0.1, 2, int(ds.step[2]))]:  # values against data.npz
        cell = rows[np.isclose(rows.step_scale, scale) & (rows.seed == seed) & (rows.step == step)]
        want = float(ds.gap.sel(step_scale=scale, seed=seed, step=step, method="nearest").squeeze())
        assert len(cell) == 1 and cell.value.iloc[0] == pytest.approx(want, rel=1e-12)
    g4 = [(r, d) for r, d in runs if r["id"] == "G4"]
    assert len({export.config_hash(r) for r, _ in g4}) == 2
    for record, ds in g4:
        rows = table[(table.config_hash == export.config_hash(record)) & (table.metric == "orbit_float64")]
        assert set(rows.num_steps) == {record["config"]["num_steps"]}
        assert rows.seed.isna().all() and rows.step_scale.isna().all()
        np.testing.assert_array_equal(rows.sort_values("step").value.to_numpy(), ds.orbit_float64.values.astype(float))


def test_parquet_round_trip_equals_the_csv(out, tmp_path):
    pytest.importorskip("pyarrow")
    target = tmp_path / "sub" / "all.parquet"
    assert cli.main(["export", str(out), "--format", "parquet", "--out", str(target)]) == 0
    table = pd.read_parquet(target)
    direct = export.tidy(out)
    pd.testing.assert_frame_equal(table, direct)
    assert str(table.seed.dtype) == "Int64" and table.value.dtype == np.float64


def test_bad_directory_or_missing_pyarrow_is_one_line_exit_2(out, tmp_path, capsys, monkeypatch):
    assert cli.main(["export", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in _error(capsys)
    assert cli.main(["export", str(tmp_path)]) == 2
    assert "no results.json under" in _error(capsys)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    assert cli.main(["export", str(out), "--format", "parquet", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "needs pyarrow" in _error(capsys) and not (tmp_path / "x.parquet").exists()
