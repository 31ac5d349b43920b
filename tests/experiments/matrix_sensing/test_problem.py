"""The shared M config: every field checked when made, r <= d."""

import pytest

from jaxopt_course.experiments.matrix_sensing import m1_gd as M1
from jaxopt_course.experiments.matrix_sensing import m3_population as M3


@pytest.mark.parametrize("values", [dict(r=50, d=40), dict(kernel="gpu"), dict(dtype="float16"), dict(layout="csr"),
                                    dict(alpha=0.0), dict(step_constant=(0.25, -1.0)), dict(seeds=0)])
def test_bad_values_are_refused_in_one_line(values):
    with pytest.raises(ValueError) as err:
        M1.Config(**values)
    assert "\n" not in str(err.value)


def test_defaults_and_optional_fields():
    assert M1.Config(dtype=None).dtype is None and M1.Config(dtype="bfloat16").dtype == "bfloat16"
    assert M1.Config().transpose_copy is None and M3.Config().transpose_copy is False
    assert (M1.Config().d, M1.Config().r, M1.Config().m) == (100, 5, 5000)
