"""P1's closed forms against independent NumPy computations."""

import numpy as np
import pytest

from jaxopt_course.experiments.least_squares import p1_theory as P1
from jaxopt_course.results import load_dataset

XS = np.linspace(-1, 1, 7)
YS = np.sin(5 * XS) * np.exp(np.abs(2 * XS)) / 10


@pytest.fixture(scope="module")
def results(quick_run):
    return quick_run("P1")[0]  # the quick run the catalogue contract makes too


def test_beta_is_the_spectral_norm_and_frobenius_overestimates_it(results):
    m = results.metrics
    for n in (3, 9):
        V = np.vander(XS, n + 1, increasing=True)
        np.testing.assert_allclose(m["beta"][f"degree={n}"], 2 / 7 * np.linalg.norm(V, 2) ** 2, rtol=1e-12)
        np.testing.assert_allclose(m["beta_frobenius"][f"degree={n}"], 2 / 7 * np.linalg.norm(V.T @ V, "fro"),
                                   rtol=1e-12)
        assert m["beta_frobenius"][f"degree={n}"] > m["beta"][f"degree={n}"]
        assert m["grad_autodiff_max_abs_diff"][f"degree={n}"] < 1e-12


def test_solutions_match_numpy(results):
    m = results.metrics
    np.testing.assert_allclose(m["solution"]["degree=3"], np.linalg.lstsq(np.vander(XS, 4, increasing=True), YS,
                                                                           rcond=None)[0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(m["solution"]["degree=9"], np.linalg.pinv(np.vander(XS, 10, increasing=True)) @ YS,
                               rtol=1e-8, atol=1e-10)
    assert m["max_abs_residual"]["degree=9"] < 1e-10 < m["max_abs_residual"]["degree=3"]  # only n = 9 interpolates


def test_the_dataset_and_figure_are_labelled_by_degree(results, tmp_path):
    d = results.data
    assert list(d.degree.values) == [3, 9] and d.fit.dims == ("degree", "x")
    np.testing.assert_allclose(d.fit.sel(degree=9).values[[0, -1]], YS[[0, -1]], atol=1e-10)  # interpolates at +-1
    (png,) = P1.plot(results, tmp_path)
    assert png.name == "p1_fits.png" and png.stat().st_size > 10_000
    assert list(load_dataset(png.with_suffix(".npz")).degree.values) == [3, 9]
