"""The C tests' shared runs: the quick runs with their results.json, a small digits cache read through ``data_dir``."""

import json

import numpy as np
import pytest

from jaxopt_course.data import digits


@pytest.fixture(scope="session")
def small_digits_dir(tmp_path_factory):
    """A directory holding digits.npz with the first 50 cached digits of each class (split 40 / 10 per class)."""
    with np.load(digits.cache_path()) as f:
        cache = {name: f[name] for name in f.files}
    keep = np.concatenate([np.flatnonzero(cache["labels"] == c)[:50] for c in range(10)])
    directory = tmp_path_factory.mktemp("small_digits")
    digits.write_cache(digits.cache_path(directory), cache["images"][keep], cache["labels"][keep],
                       max_value=int(cache["max_value"]), origin=str(cache["origin"]) + " (50 per class)",
                       license=str(cache["license"]))
    return str(directory)


@pytest.fixture(scope="session")
def quick_record(quick_run):
    """quick_record(ID) -> (Results, results.json as a dict, out_dir) of the session's quick run."""

    def get(exp_id: str):
        results, out_dir = quick_run(exp_id)
        return results, json.loads((out_dir / "results.json").read_text()), out_dir

    return get
