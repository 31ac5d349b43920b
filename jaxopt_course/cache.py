"""The project's cache directory (prepared data sets, compiled kernels)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

CACHE_ENV = "JAXOPT_COURSE_CACHE"
APP_NAME = "jaxopt_course"


def cache_dir() -> Path:
    """$JAXOPT_COURSE_CACHE, else the user cache directory of platformdirs ($XDG_CACHE_HOME or ~/.cache on Linux)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


COMPILATION_CACHE_ENV = "JAXOPT_COURSE_COMPILATION_CACHE"  # "0" turns the persistent compilation cache off


def enable_compilation_cache() -> Path | None:
    """Keep XLA's compiled programs in ``cache_dir()/xla`` across processes (JAX's persistent cache).

    A second ``report --quick`` then reuses every program instead of compiling it
    again. Off when $JAXOPT_COURSE_COMPILATION_CACHE is 0; returns the directory used.
    """
    import jax

    if os.environ.get(COMPILATION_CACHE_ENV, "1").strip().lower() in ("0", "false", "off", "no"):
        return None
    path = cache_dir() / "xla"
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # the small programs add up too
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
