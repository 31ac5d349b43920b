"""Test-suite set-up: strict dtype and rank promotion, no compilation cache or progress hooks, a key fixture, --runslow."""

import dataclasses
import os
import re

import jax
import pytest

from jaxopt_course import precision

# Strict rank promotion catches silent broadcasting bugs in the hot steps; strict dtype
# promotion catches the float32 -> float64 slip that makes a hot step convert its data.
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")
# Tests stay hermetic: no persistent compilation cache unless a test turns it on (test_compilation_cache.py).
os.environ["JAXOPT_COURSE_COMPILATION_CACHE"] = "0"
# No progress hooks in compiled runs unless a test turns them on (tests/test_progress.py).
os.environ["JAXOPT_COURSE_PROGRESS"] = "0"
# Tests check float32 arithmetic: on GPUs, keep matrix products out of TF32 (as the CLI does).
jax.config.update("jax_default_matmul_precision", precision.MATMUL_PRECISION)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_configure(config):
    from hypothesis import settings

    # property tests: each example compiles new shapes, so the default suite draws fewer of them
    settings.register_profile("default-suite", max_examples=12)
    settings.register_profile("runslow", max_examples=40)
    settings.load_profile("runslow" if config.getoption("--runslow") else "default-suite")


def pytest_collection_modifyitems(config, items):
    for item in items:  # for pytest-xdist's --dist loadgroup: what shares a session's quick run stays together
        item.add_marker(pytest.mark.xdist_group(_group(item)))
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


def _group(item) -> str:
    """The experiment ID a test needs the quick run of (its file's or its parameter's), else its file."""
    exp_id = getattr(getattr(item, "callspec", None), "params", {}).get("exp_id")
    match = re.fullmatch(r"test_([a-z]\d+)_\w+\.py", item.path.name)
    if exp_id is None and match and "experiments" in item.path.parts:
        exp_id = match.group(1)
    return str(exp_id).upper() if exp_id else item.path.name


@pytest.fixture
def getkey():
    """A function returning a fresh PRNG key on every call (never reuse a key)."""
    counter = iter(range(10**9))
    base = jax.random.key(1234)
    return lambda: jax.random.fold_in(base, next(counter))


@pytest.fixture
def x64():
    """Run the test with float64 enabled (jax_enable_x64), restored afterwards."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """quick_run(ID) -> (Results, out_dir): the experiment at its quick config, seed 0, run once per session.

    Through the application layer (``app.run_experiment``), so out_dir holds results.json,
    data.npz and the figures; tests of one experiment and the catalogue contract share it.
    """
    from jaxopt_course import app, experiments

    cache = {}
    root = tmp_path_factory.mktemp("quick")

    def get(exp_id: str):
        exp = experiments.get(exp_id)
        if exp.id not in cache:
            captured = {}
            original = exp.run

            def keep(config, key, sweeper):
                captured["results"] = original(config, key, sweeper)
                return captured["results"]

            experiment = dataclasses.replace(exp, run=keep)
            out_dir = app.run_experiment(experiment, exp.config.quick(), app.Options(quick=True, out=root))
            cache[exp.id] = (captured["results"], out_dir)
        return cache[exp.id]

    return get
