"""N2 through the library: the grid of activations x step sizes, its divergence reports, single-value runs."""

import dataclasses
import re

import jax
import numpy as np
import pytest

from jaxopt_course.experiments.networks import n1_width_depth as n1
from jaxopt_course.experiments.networks import n2_activation as n2

LRS = (0.02, 0.05, 0.1, 0.3)
CURVES = ("train_loss", "test_loss", "fit_near", "fit_far", "diverged_at")
REPORT = re.compile(r"^(\d+) of 4 initializations diverged, the first at step \d+$")


@pytest.fixture(scope="module")
def quick():
    return n2.run(n2.Config.quick(), jax.random.key(0))


def test_config_has_the_spec_defaults():
    config = n2.Config()
    assert config.learning_rates == LRS and config.activations == ("relu", "4sigmoid") and config.num_epochs == 2000
    with pytest.raises(ValueError, match="learning_rates must be a finite number > 0"):
        n2.Config(learning_rates=(0.1, -0.1))


def test_grid_of_activations_and_step_sizes(quick):
    m, d = quick.metrics, quick.data
    cells = {f"activation={a}, learning_rate={lr:g}" for a in ("relu", "4sigmoid") for lr in LRS}
    assert set(m["final_test_loss_median"]) == cells and m["num_inits"] == 4
    for cell in cells:
        assert m["diverged_inits"][cell] <= 4
        assert m["final_test_loss_median"][cell] is None or m["final_test_loss_median"][cell] > 0
    np.testing.assert_array_equal(d.learning_rate, LRS)
    assert all(label in cells and REPORT.match(text) for label, text in quick.diverged.items())
    assert sum(int(REPORT.match(t).group(1)) for t in quick.diverged.values()) == sum(m["diverged_inits"].values())


def test_single_step_sizes_give_the_cells_of_the_sweep(quick):
    """The vmapped learning_rates: each cell equals a run at that single value (ReLU 0.05 is also N1's 1-10-10-1)."""
    key = jax.random.key(0)
    net = n1.run(dataclasses.replace(n1.Config.quick(), architectures=("1-10-10-1",)), key)
    relu = quick.data.sel(activation="relu", learning_rate=0.05)
    for name in CURVES:
        np.testing.assert_allclose(relu[name], net.data[name].sel(architecture="1-10-10-1", learning_rate=0.05),
                                   rtol=1e-6)
    assert quick.metrics["final_train_loss_median"]["activation=relu, learning_rate=0.05"] == pytest.approx(
        net.metrics["final_train_loss_median"]["all"], rel=1e-5)
    single = n2.run(dataclasses.replace(n2.Config.quick(), activations=("4sigmoid",), learning_rates=0.3), key)
    for name in CURVES:
        np.testing.assert_allclose(quick.data[name].sel(activation=["4sigmoid"], learning_rate=[0.3]),
                                   single.data[name], rtol=1e-6)


def test_figures_draw_a_band_per_step_size(quick, tmp_path, band_labels):
    assert [p.name for p in n2.plot(quick, tmp_path)] == ["n2_losses.png", "n2_fits.png"]
    assert set(band_labels) == {f"γ={lr:g}" for lr in LRS}
