"""P3: SGD over seeds and schedules; a step-scale sweep is the single-value runs in one call."""

import jax
import numpy as np
import pytest

from jaxopt_course.experiments.least_squares import p3_sgd as P3
from jaxopt_course.results import load_dataset

SMALL = dict(degrees=(3,), schedules=("staircase",), staircase_period=100, steps_per_point=100, seeds=3,
             num_records=10)


@pytest.fixture(scope="module")
def quick(quick_run):
    return quick_run("P3")[0]  # the quick run the catalogue contract makes too


def test_quick_run(quick):
    d = quick.data
    assert d.gap.dims == ("degree", "schedule", "step_scale", "seed", "step")
    assert list(d.degree.values) == [3, 9] and list(d.schedule.values) == list(P3.Config().schedules)
    assert d.sizes["seed"] == P3.Config.quick().seeds and quick.diverged == {}
    assert float(d.gap.sel(degree=3, schedule="constant", step_scale=0.1).isel(step=-1).median("seed")) < 0.1
    np.testing.assert_array_less(d.gap_avg.isel(step=-1).values, d.gap_avg.isel(step=0).values)  # averages progress


def test_the_figure_and_its_labelled_data(quick, tmp_path):
    (png,) = P3.plot(quick, tmp_path)
    assert png.name == "p3_sgd.png" and png.stat().st_size > 10_000
    saved = load_dataset(png.with_suffix(".npz"))
    assert {"gap", "gap_avg", "diverged_at"} <= set(saved.data_vars) and list(saved.degree.values) == [3, 9]
    np.testing.assert_array_equal(saved.gap.sel(degree=3, schedule="constant").values,
                                  quick.data.gap.sel(degree=3, schedule="constant").values)
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_step_scale_sweep_gives_the_single_value_runs(tmp_path):
    swept = P3.run(P3.Config(step_scale=(0.05, 0.1), **SMALL), jax.random.key(1))
    d = swept.data
    np.testing.assert_allclose(d.step_scale.values, [0.05, 0.1])
    for c in (0.05, 0.1):
        single = P3.run(P3.Config(step_scale=c, **SMALL), jax.random.key(1)).data
        for name in ("gap", "gap_avg"):
            np.testing.assert_allclose(d[name].sel(step_scale=c).values, single[name].sel(step_scale=c).values,
                                       rtol=1e-4, atol=1e-12)  # float32 gaps (see test_p2_gd)
    assert len(swept.metrics["gap_final_median"]) == 2  # one results.json entry per step scale
    P3.plot(swept, tmp_path)
