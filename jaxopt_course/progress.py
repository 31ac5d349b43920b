"""Progress on stderr: one-line log messages and timed blocks."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


def log(message: str) -> None:
    """Print ``[jaxopt-course] message`` on stderr."""
    print(f"[jaxopt-course] {message}", file=sys.stderr, flush=True)


@contextmanager
def timed(message: str):
    """Log ``message ...`` on entry and ``message: done in X s`` on exit."""
    log(f"{message} ...")
    start = time.perf_counter()
    yield
    log(f"{message}: done in {time.perf_counter() - start:.2f} s")
