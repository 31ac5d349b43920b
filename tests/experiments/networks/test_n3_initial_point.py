"""N3 through the library: the spread over initializations, a learning-rate sweep, its fingerprint in a new process."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxopt_course import checkpoint
from jaxopt_course import run as runner
from jaxopt_course.experiments.networks import n3_initial_point as n3
from jaxopt_course.results import load_npz

ROOT = Path(__file__).resolve().parents[3]
CURVES = ("train_loss", "test_loss", "fit_near", "fit_far", "diverged_at")
# A fresh process computes the fingerprint of the quick run's sweep (and stops there, before computing).
FINGERPRINT = """
import json, sys
import jax
from jaxopt_course import checkpoint, run
from jaxopt_course.experiments.networks import n3_initial_point as n3
class Done(Exception):
    pass
seen, real = [], checkpoint.fingerprint
def spy(*args):
    seen.append(real(*args))
    raise Done
checkpoint.fingerprint = spy
policy = checkpoint.Policy(sys.argv[1], chunk_seeds=8).prepare()
try:
    n3.run(n3.Config.quick(), jax.random.key(0), run.Sweeper(checkpoint=policy))
except Done:
    pass
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The quick run, its sweep written in chunks under a checkpoint policy; and the fingerprints computed."""
    directory = tmp_path_factory.mktemp("n3") / "chunks"
    seen, real = [], checkpoint.fingerprint
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(checkpoint, "fingerprint", lambda *args: seen.append(real(*args)) or seen[-1])
        policy = checkpoint.Policy(directory, chunk_seeds=8).prepare()
        results = n3.run(n3.Config.quick(), jax.random.key(0), runner.Sweeper(checkpoint=policy))
    return results, directory, seen


def test_config_needs_two_initializations():
    assert n3.Config().seeds >= 20 and n3.Config.quick().seeds == 20
    with pytest.raises(ValueError, match="seeds must be an integer >= 2"):
        n3.Config(seeds=1)


def test_spread_over_initializations(quick):
    m = quick[0].metrics
    assert m["num_inits"] == 20 and m["stuck_above"] == 1e-3
    lo, mid, hi = (m[f"final_train_loss_{s}"]["all"] for s in ("min", "median", "max"))
    assert lo <= mid <= hi and lo < hi  # different inits, different minima
    assert 0.0 <= m["stuck_fraction"]["all"] <= 1.0


def test_the_sweep_has_the_same_fingerprint_in_a_new_process(quick, tmp_path):
    """The swept function and its bound net describe themselves alike in every process (so a resume can match)."""
    _, directory, seen = quick
    chunks = sorted(directory.glob("sweep0_chunk*.npz"))
    assert len(seen) == 1 and len(chunks) == 3  # 20 runs in chunks of 8
    assert all(load_npz(c)["__fingerprint__"] == seen[0] for c in chunks)
    proc = subprocess.run([sys.executable, "-c", FINGERPRINT, str(tmp_path / "fresh")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == seen


def test_a_learning_rate_sweep_gives_the_single_runs(quick, tmp_path, band_labels):
    base, key = n3.Config.quick(), jax.random.key(0)
    swept = n3.run(dataclasses.replace(base, learning_rate=(0.05, 0.1)), key)
    single = n3.run(dataclasses.replace(base, learning_rate=0.1), key)
    np.testing.assert_array_equal(swept.data.learning_rate, [0.05, 0.1])
    for lr, ref in ((0.05, quick[0].data), (0.1, single.data)):
        for name in CURVES:
            np.testing.assert_allclose(swept.data[name].sel(learning_rate=lr), ref[name].sel(learning_rate=lr),
                                       rtol=1e-6)
    assert [p.name for p in n3.plot(swept, tmp_path)] == ["n3_losses.png", "n3_fits.png", "n3_spread.png"]
    assert set(band_labels) == {"γ=0.05", "γ=0.1"}
