"""The persistent compilation cache: the CLI fills it, a second process reuses it, an env variable turns it off."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, out: str, cache: str = "1") -> None:
    env = dict(os.environ, JAXOPT_COURSE_CACHE=str(tmp_path / "cache"), JAXOPT_COURSE_COMPILATION_CACHE=cache,
               JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-m", "jaxopt_course", "run", "G4", "--quick", "--out", str(tmp_path / out)],
                   check=True, cwd=ROOT, env=env, timeout=300, capture_output=True)


def _entries(tmp_path) -> set:
    xla = tmp_path / "cache" / "xla"
    return {p.name for p in xla.iterdir()} if xla.exists() else set()


def test_second_process_reuses_the_compiled_programs(tmp_path):
    _run(tmp_path, "off", cache="0")
    assert _entries(tmp_path) == set()
    _run(tmp_path, "first")
    first = _entries(tmp_path)
    assert first, "the first run writes compiled programs"
    _run(tmp_path, "second")
    assert _entries(tmp_path) == first, "the second run compiles nothing new"
