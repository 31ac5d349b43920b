"""The seed axis sharded over 4 forced host devices gives the numbers of one device."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from jaxopt_course.results import load_npz

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import functools, sys
    import jax, numpy as np
    from jaxopt_course import run as runner
    from jaxopt_course.experiments.least_squares.p3_sgd import Config, sgd_trace
    config = Config(steps_per_point=300, seeds=6, num_records=20)
    fn = functools.partial(sgd_trace, degree=9, schedule="staircase", config=config)
    trace = runner.sweep(fn, runner.seed_keys(3, 6), axes={"lr": np.array([0.005, 0.01])})
    sharding = trace.metrics["gap"].sharding
    np.savez(sys.argv[1], gap=np.asarray(trace.metrics["gap"]), devices=jax.device_count(),
             shards=len(sharding.device_set))
""")


def _run(tmp_path, devices):
    out = tmp_path / f"out{devices}.npz"
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", SCRIPT, str(out)], check=True, cwd=ROOT, env=env, timeout=300)
    return load_npz(out)


def test_sharded_sweep_matches_single_device(tmp_path):
    one, four = _run(tmp_path, 1), _run(tmp_path, 4)
    assert int(one["devices"]) == 1 and int(four["devices"]) == 4
    assert int(four["shards"]) == 4  # 2 step sizes x 6 seeds = 12 runs, spread over the 4 devices
    assert four["gap"].shape == (2, 6, one["gap"].shape[2])
    np.testing.assert_allclose(four["gap"], one["gap"], rtol=1e-6, atol=1e-9)
