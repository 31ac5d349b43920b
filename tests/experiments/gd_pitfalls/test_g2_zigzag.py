"""G2: the zig-zag at a large step and the smooth path at a small one, against the closed form."""

import jax
import numpy as np
import pytest

from jaxopt_course.experiments.gd_pitfalls import g2_zigzag as G2
from jaxopt_course.results import load_dataset


@pytest.fixture(scope="module")
def quick():
    return G2.run(G2.Config.quick(), jax.random.key(0))


def test_zigzag_against_the_closed_form(quick, tmp_path):
    m = quick.metrics
    large, small = m["large"], m["small"]
    np.testing.assert_allclose(large["factors"], [1 - 2 * 0.45 * 2.0, 1 - 2 * 0.45 * 0.1], rtol=1e-12)
    assert large["zigzags_x1"] == large["num_steps"]  # factor -0.8 < 0: x1 - c1 flips at every step
    assert small["zigzags_x1"] == 0 and small["step"] == pytest.approx(large["step"] / 10)
    for run in (large, small):
        assert run["final_distance"] == pytest.approx(run["predicted_final_distance"], rel=1e-4)
    (png,) = G2.plot(quick, tmp_path)
    assert png.name == "g2_zigzag.png" and png.stem in G2.CAPTIONS
    data = load_dataset(png.with_suffix(".npz"))
    assert data.large_x.shape == (31, 2) and np.all(data.large_x.isel(large_iteration=0).values == [-0.5, -4.0])
    assert data.small_x.sel(coordinate="x1").dims == ("small_iteration",) and quick.diverged == {}


def test_configs_reject_bad_input():
    with pytest.raises(ValueError, match=r"a must be a tuple\[float, float\]"):
        G2.Config(a=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="a must be a finite number > 0"):
        G2.Config(a=(1.0, -2.0))


def test_full_config_has_the_spec_values():
    g2 = G2.Config()
    assert g2.a == (2.0, 0.1) and g2.small_factor == 100
