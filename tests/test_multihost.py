"""Two processes on one machine, talking over loopback, run one sweep like one process does."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxopt_course import distributed

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["run", "P3", "--quick", "--seeds", "6", "--set", "degrees=9", "--set", "schedules=staircase",
        "--sweep", "step_scale=0.05,0.1"]  # 2 step sizes x 6 seeds = 12 runs over the 4 devices of 2 processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tmp_path, capsys):
    one_env = dict(os.environ, JAX_PLATFORMS="cpu")  # the reference on the same platform as the two processes
    subprocess.run([sys.executable, "-m", "jaxopt_course", *ARGS, "--out", str(tmp_path / "one")], cwd=ROOT,
                   env=one_env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=400)
    port, out = _free_port(), tmp_path / "two"
    env = dict(one_env, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAXOPT_COORDINATOR=f"127.0.0.1:{port}", JAXOPT_NUM_PROCESSES="2")
    procs = [subprocess.Popen([sys.executable, "-m", "jaxopt_course", *ARGS, "--out", str(out)], cwd=ROOT,
                              env=dict(env, JAXOPT_PROCESS_ID=str(i)), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(2)]
    logs = [p.communicate(timeout=400)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert "process 1 done" in logs[1]
    two = json.loads((out / "P3" / "results.json").read_text())
    one = json.loads((tmp_path / "one" / "P3" / "results.json").read_text())
    assert len(two["devices"]) == 4  # 2 processes x 2 devices, one global mesh
    assert two["metrics"].keys() == one["metrics"].keys()
    for name, cells in one["metrics"].items():
        assert two["metrics"][name].keys() == cells.keys() and len(cells) == 2  # one cell per step size
        for cell, value in cells.items():
            np.testing.assert_allclose(two["metrics"][name][cell], value, rtol=1e-6, err_msg=f"{name} {cell}")


@pytest.mark.parametrize("kwargs,message", [
    ({"coordinator": "127.0.0.1:1"}, "missing"),
    ({"coordinator": "h:1", "num_processes": 2, "process_id": 2}, "process_id"),
])
def test_incomplete_multiprocess_settings_raise(kwargs, message, monkeypatch):
    for var in distributed.ENV.values():
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match=message):
        distributed.settings_from(**kwargs)


def test_single_process_needs_no_settings(monkeypatch):
    for var in distributed.ENV.values():
        monkeypatch.delenv(var, raising=False)
    assert distributed.settings_from() == {}
