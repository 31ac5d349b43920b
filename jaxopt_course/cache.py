"""The project's cache directory (prepared data sets, compiled kernels)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "JAXOPT_COURSE_CACHE"


def cache_dir() -> Path:
    """$JAXOPT_COURSE_CACHE, else $XDG_CACHE_HOME/jaxopt_course, else ~/.cache/jaxopt_course."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "jaxopt_course"
