"""Same ID, config, seed and precision: bit-identical results.json metrics on the same machine."""

import json

import pytest

from jaxopt_course import cli


@pytest.mark.parametrize("exp_id", ["P3", "G1", "R1"])
def test_same_seed_gives_identical_metrics(exp_id, tmp_path, quick_run):
    """The CLI's quick run equals the session's quick run of the same seed (another run, same numbers)."""
    _, first = quick_run(exp_id)
    assert cli.main(["run", exp_id, "--quick", "--seed", "0", "--out", str(tmp_path)]) == 0
    again = json.loads((tmp_path / exp_id / "results.json").read_text())
    assert again["metrics"] == json.loads((first / "results.json").read_text())["metrics"]


def test_another_seed_gives_other_numbers(tmp_path):
    small = ["--set", "degrees=9", "--set", "schedules=constant", "--set", "steps_per_point=100", "--seeds", "4"]
    metrics = []
    for seed in ("1", "2"):
        assert cli.main(["run", "P3", "--quick", *small, "--seed", seed, "--out", str(tmp_path / seed)]) == 0
        metrics.append(json.loads((tmp_path / seed / "P3" / "results.json").read_text())["metrics"])
    assert metrics[0] != metrics[1]


def test_cli_runs_experiments_with_full_float32_matmuls(tmp_path, monkeypatch):
    """Experiments trace under 'highest' matmul precision even when the caller asked for TF32 (GPU default)."""
    import dataclasses

    import jax

    from jaxopt_course import app, experiments

    experiment = experiments.get("G4")
    seen = []

    def spy(config, key, sweeper):
        seen.append(jax.config.jax_default_matmul_precision)
        return experiment.run(config, key, sweeper)

    with jax.default_matmul_precision("tensorfloat32"):
        app.run_experiment(dataclasses.replace(experiment, run=spy), experiment.config.quick(),
                           app.Options(quick=True, out=tmp_path))
        assert jax.config.jax_default_matmul_precision == "tensorfloat32"  # restored afterwards
    assert seen == ["highest"]
    assert json.loads((tmp_path / "G4" / "results.json").read_text())["matmul_precision"] == "highest"


def test_npz_round_trip_reads_everything_and_closes_the_file(tmp_path, monkeypatch):
    import numpy as np

    from jaxopt_course import results

    arrays = {"curve": np.linspace(0.0, 1.0, 7, dtype=np.float32), "ids": np.arange(3), "label": np.asarray("C2")}
    path = results.save_npz(tmp_path / "data.npz", arrays)
    opened = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: opened.append(real_load(*a, **k)) or opened[-1])
    loaded = results.load_npz(path)
    assert set(loaded) == set(arrays) and all(type(v) is np.ndarray for v in loaded.values())
    for name, value in arrays.items():
        np.testing.assert_array_equal(loaded[name], value)
        assert loaded[name].dtype == value.dtype
    assert opened[0].fid is None  # the NpzFile's handle is closed, not left to the garbage collector
