"""Interrupted runs resume from their last completed chunk and end with the same numbers."""

import dataclasses
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxopt_course import app, checkpoint, cli, experiments
from jaxopt_course import run as runner

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["run", "P3", "--quick", "--seeds", "12", "--chunk-seeds", "4", "--set", "degrees=3"]  # 3 schedules x 3 chunks


def _metrics(out: Path) -> dict:
    return json.loads((out / "P3" / "results.json").read_text())["metrics"]


def test_killed_run_resumes_to_identical_results(tmp_path, capsys):
    assert cli.main(ARGS + ["--out", str(tmp_path / "whole")]) == 0
    interrupted = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "jaxopt_course", *ARGS, "--out", str(interrupted)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    chunks = interrupted / "P3" / ".chunks"
    deadline = time.monotonic() + 240
    while len(list(chunks.glob("sweep*_chunk*.npz"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(chunks.glob("sweep*_chunk*.npz")))
    assert 3 <= done < 9, "the run should have been killed mid-way (9 chunks in all)"
    assert not (interrupted / "P3" / "results.json").exists()
    capsys.readouterr()
    assert cli.main(ARGS + ["--out", str(interrupted), "--resume"]) == 0
    assert capsys.readouterr().err.count("reused from") == done
    resumed, whole = _metrics(interrupted), _metrics(tmp_path / "whole")
    if jax.default_backend() == "cpu":
        assert resumed == whole  # bit for bit
    else:  # a GPU picks kernels by timing them: two processes may differ in the last bit (README)
        assert resumed.keys() == whole.keys()
        for name, value in whole.items():
            np.testing.assert_allclose(resumed[name], value, rtol=1e-6, err_msg=name)
    assert not chunks.exists()


def test_resume_with_other_config_is_refused(tmp_path, capsys):
    chunks = tmp_path / "P3" / ".chunks"
    chunks.mkdir(parents=True)
    (tmp_path / app.MARKER).touch()  # an earlier, interrupted run of ours
    (chunks / "run.json").write_text(json.dumps({"id": "P3", "seed": 99}))
    assert cli.main(ARGS + ["--out", str(tmp_path), "--resume"]) == 2
    assert "different configuration" in capsys.readouterr().err


def _noisy(key, scale):
    if isinstance(scale, dict):  # shared arguments may be any pytree
        scale = scale["a"] * scale["b"][0]
    return runner.run(lambda s, k, n: s + scale * n, np.float32(0.0), 100, metrics=lambda s: {"x": s},
                      key=key, sample=lambda k, n: __import__("jax").random.normal(k, (n,)), chunk=32).state


def _policy(directory, **kw) -> checkpoint.Policy:
    return checkpoint.Policy(directory, **kw).prepare()


def test_chunked_sweep_equals_one_call_and_detects_foreign_chunks(tmp_path):
    keys = runner.seed_keys(5, 10)
    whole = np.asarray(runner.sweep(_noisy, keys, 1.5))
    chunked = runner.sweep(_noisy, keys, 1.5, checkpoint=_policy(tmp_path, chunk_seeds=4))
    np.testing.assert_array_equal(chunked, whole)
    assert len(list(tmp_path.glob("sweep0_chunk*.npz"))) == 3
    np.testing.assert_array_equal(
        runner.sweep(_noisy, keys, 1.5, checkpoint=_policy(tmp_path, resume=True, chunk_seeds=4)), whole)
    with pytest.raises(checkpoint.ResumeMismatch):
        runner.sweep(_noisy, keys, 2.5, checkpoint=_policy(tmp_path, resume=True, chunk_seeds=4))  # another scale
    with pytest.raises(checkpoint.ResumeMismatch):  # another chunk size must not mix chunks
        runner.sweep(_noisy, keys, 1.5, checkpoint=_policy(tmp_path, resume=True, chunk_seeds=5))
    tree = {"a": np.float32(0.5), "b": (np.float32(3.0), np.zeros(2))}
    np.testing.assert_array_equal(runner.sweep(_noisy, keys, tree, checkpoint=_policy(tmp_path / "t", chunk_seeds=4)),
                                  whole)


def _noisy_axes(key, hp):
    return _noisy(key, hp["scale"])


def test_chunked_sweep_over_axes_resumes_and_refuses_other_values(tmp_path):
    keys = runner.seed_keys(5, 6)
    axes = {"scale": [1.5, 2.5]}
    whole = np.asarray(runner.sweep(_noisy_axes, keys, axes=axes))
    assert whole.shape == (2, 6)
    np.testing.assert_array_equal(whole[0], runner.sweep(_noisy, keys, 1.5))
    chunked = runner.sweep(_noisy_axes, keys, axes=axes, checkpoint=_policy(tmp_path, chunk_seeds=5))
    np.testing.assert_array_equal(chunked, whole)
    assert len(list(tmp_path.glob("sweep0_chunk*.npz"))) == 3  # 12 runs in chunks of 5
    resumed = runner.sweep(_noisy_axes, keys, axes=axes, checkpoint=_policy(tmp_path, resume=True, chunk_seeds=5))
    np.testing.assert_array_equal(resumed, whole)
    with pytest.raises(checkpoint.ResumeMismatch):
        runner.sweep(_noisy_axes, keys, axes={"scale": [1.5, 3.5]},
                     checkpoint=_policy(tmp_path, resume=True, chunk_seeds=5))


def test_fingerprint_refuses_objects_with_memory_addresses():
    class Opaque:
        pass

    with pytest.raises(TypeError, match="memory address"):
        checkpoint.describe(functools.partial(_noisy, scale=Opaque()))
    assert "Policy" not in checkpoint.describe(functools.partial(_noisy, scale=1.5))


def test_an_n_experiment_resumes_in_a_new_process(tmp_path, capsys):
    """Fingerprints are the same in every process: a fresh process reuses every chunk of an N3 run."""
    exp = experiments.get("N3")
    argv = ["run", "N3", "--quick", "--seeds", "8", "--chunk-seeds", "4", "--set", "num_epochs=40",
            "--out", str(tmp_path / "whole")]
    assert cli.main(argv) == 0
    config, _ = app.configure(exp, app.Request(sets=("num_epochs=40",), flags=(("seeds", 8),)), quick=True)

    def crash_after_computing(results, out_dir):
        raise RuntimeError("killed before the figures")

    options = app.Options(quick=True, out=app.claim_out_root(tmp_path / "resumed"), chunk_seeds=4)
    with pytest.raises(RuntimeError):
        app.run_experiment(dataclasses.replace(exp, plot=crash_after_computing), config, options)
    chunks = tmp_path / "resumed" / "N3" / ".chunks"
    assert len(list(chunks.glob("sweep*_chunk*.npz"))) == 2
    done = subprocess.run([sys.executable, "-m", "jaxopt_course", *argv[:-2], "--resume",
                           "--out", str(tmp_path / "resumed")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("reused from") == 2
    resumed = json.loads((tmp_path / "resumed" / "N3" / "results.json").read_text())["metrics"]
    assert resumed == json.loads((tmp_path / "whole" / "N3" / "results.json").read_text())["metrics"]
