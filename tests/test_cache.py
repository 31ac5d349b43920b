"""cache.cache_dir: $JAXOPT_COURSE_CACHE first, else the platform's user cache directory (platformdirs)."""

import sys
from pathlib import Path

import platformdirs
import pytest

from jaxopt_course import cache


def test_the_environment_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine"


def test_default_is_the_user_cache_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    assert cache.cache_dir() == Path(platformdirs.user_cache_dir("jaxopt_course", appauthor=False))
    if sys.platform.startswith("linux"):  # the XDG rule the hand-written version implemented
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache.cache_dir() == tmp_path / "xdg" / "jaxopt_course"
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert cache.cache_dir() == Path.home() / ".cache" / "jaxopt_course"


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux only")
def test_free_memory_on_cpu_is_memavailable():
    import jax

    from jaxopt_course.problems import sensing_operator as so

    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    mem_available = int(fields["MemAvailable"].split()[0]) * 1024
    got = so.available_memory_bytes(jax.devices("cpu")[0])
    assert abs(got - mem_available) <= 0.1 * mem_available + 2**28  # other processes allocate meanwhile
